"""The pipeline's pace seen from outside: when each application was accepted (`accepted_at` of
intake's 201) and when its case opened (`opened_at` in approval's database), as seconds on
one clock (both are the servers' wall clocks on this machine).

Pure arithmetic, so that what the report calls "sustained" and "drain" is tested on its own.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass

# The measure of what the pipeline sustains: the most cases opened in any 10 s.
WINDOW_SECONDS = 10.0
# Applications in flight when the load stops, up to this many seconds of posting, are the
# pipeline's latency, not a backlog.
IN_FLIGHT_SECONDS = 1.0


@dataclass(frozen=True)
class PipelineRates:
    accepted: int  # applications accepted by the load
    opened: int  # of them, with an open case by the end of the drain
    load_seconds: float  # first accept → last accept
    posted_per_s: float  # accepted per second while the load ran
    opened_during_load_per_s: float  # cases opened per second while the load ran
    backlog_at_end: int  # accepted but not yet open when the load stopped
    best_window_per_s: float  # the most cases opened in any window, per second
    window_seconds: float  # that window (shorter when everything opened in less)
    drain_seconds: float  # from the load's end (or a paused pipeline's first open) to the last
    drain_per_s: float  # cases opened per second during the drain (NaN: nothing to drain)
    resume_lag: float = 0.0  # a paused pipeline: from its resumption to its first case open

    @property
    def posted_faster(self) -> bool:
        """Windows posted faster than the pipeline opened cases (a backlog grew beyond what
        is merely in flight): what it sustained was measured at its limit, not the load's."""
        return self.backlog_at_end > self.posted_per_s * IN_FLIGHT_SECONDS


def best_window(times: Sequence[float], window: float = WINDOW_SECONDS) -> tuple[float, float]:
    """(events per second, window used): the most events in any `window` seconds, over that
    window. When all of them fall within less than `window` (a short run), the window is
    their span (at least one second), so a short burst is not diluted over empty time."""
    if not times:
        return 0.0, window
    ordered = sorted(times)
    used = min(window, max(ordered[-1] - ordered[0], 1.0))
    most = max(
        bisect.bisect_right(ordered, start + used) - index for index, start in enumerate(ordered)
    )
    return most / used, used


def pipeline_rates(
    accepted: Sequence[float],
    opened: Sequence[float],
    *,
    resumed: float | None = None,
    window: float = WINDOW_SECONDS,
) -> PipelineRates:
    """The rates of one load and the drain after it.

    `accepted`: when each application was accepted; `opened`: when each of them that has a
    case opened. The load runs from the first accept to the last; the drain from the last
    accept to the last case opened. `resumed`: the pipeline was paused during the load and
    resumed then; its drain starts with its first case opened after that (its consumers
    first rejoin their groups: the pause's cost, not the pipeline's pace)."""
    if not accepted:
        nan = float("nan")
        return PipelineRates(
            0, len(opened), 0.0, 0.0, 0.0, 0, *best_window(opened, window), 0.0, nan, 0.0
        )
    began, ended = min(accepted), max(accepted)
    load = ended - began
    during = sum(1 for t in opened if began <= t <= ended)
    after = [t for t in opened if t > ended]
    start = ended
    if resumed is not None:
        start = min((t for t in after if t >= resumed), default=max(ended, resumed))
    drain = max(after) - start if after else 0.0
    rate, used = best_window(opened, window)
    return PipelineRates(
        accepted=len(accepted),
        opened=len(opened),
        load_seconds=load,
        posted_per_s=len(accepted) / load if load > 0 else 0.0,
        opened_during_load_per_s=during / load if load > 0 else 0.0,
        backlog_at_end=len(accepted) - during,
        best_window_per_s=rate,
        window_seconds=used,
        drain_seconds=drain,
        drain_per_s=len(after) / drain if drain > 0 else float("nan"),
        resume_lag=start - resumed if resumed is not None else 0.0,
    )
