"""The targets of issue 18 beside what one run measured: the table its closing note pastes.

Printed, never asserted: a target missed fails nothing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from rich.table import Table

PIPELINE_CASES_PER_S = 300.0
CPU_MS_PER_APPLICATION = 4.0
# Services whose CPU counts towards the per-application budget (PostgreSQL and delivery are
# shown beside it, not in it).
CPU_BUDGET_OF = ("intake", "routing", "approval", "kafka")
PACED_KAFKA_FACTOR = 3.0
PACED_SLACK_MS = 20.0
INTAKE_ALONE_SHARE = 0.25
INTAKE_BUSY_SHARE = 0.15


@dataclass(frozen=True)
class Goal:
    name: str
    measured: float  # NaN when the run did not measure it
    bound: float
    at_least: bool  # met when measured ≥ bound (else when measured ≤ bound)
    unit: str
    detail: str = ""

    @property
    def met(self) -> bool | None:
        """None when nothing was measured (or the bound depends on what was not)."""
        if math.isnan(self.measured) or math.isnan(self.bound):
            return None
        return self.measured >= self.bound if self.at_least else self.measured <= self.bound

    @property
    def goal(self) -> str:
        if self.bound == 0 and not self.at_least:
            return "none"
        return f"{'≥' if self.at_least else '≤'} {_number(self.bound)} {self.unit}".strip()


def _number(value: float) -> str:
    if math.isnan(value):
        return "—"
    if value == int(value):
        return f"{value:.0f}"
    return (
        f"{value:.2f}"
        if abs(value) < 10
        else f"{value:.1f}"
        if abs(value) < 100
        else f"{value:.0f}"
    )


def paced_bound_ms(kafka_p99_ms: float) -> float:
    """Accepted → case open p99 may be at most this, given the raw Kafka p99 of the run."""
    return PACED_KAFKA_FACTOR * kafka_p99_ms + PACED_SLACK_MS


def issue_goals(
    *,
    sustained_per_s: float,
    posted_per_s: float,
    posted_faster: bool,
    best_window_per_s: float,
    drain_per_s: float,
    cpu_ms: float,
    paced_p99_ms: float,
    kafka_p99_ms: float,
    alone_share: float,
    busy_share: float,
    lost: int | None,
    twice: int | None,
) -> list[Goal]:
    """Each target of issue 18 with its figure; NaN (or None) for what was not measured."""
    nan = float("nan")
    posting = f"windows posted {posted_per_s:.0f}/s"
    if posted_per_s and not posted_faster:
        posting += ", not faster: the pipeline kept up"
    exact = nan if lost is None or twice is None else float(lost + twice)
    return [
        Goal("pipeline sustains, cases opened/s", sustained_per_s, PIPELINE_CASES_PER_S, True,
             "/s", posting),
        Goal("  most cases opened in a 10 s window", best_window_per_s, PIPELINE_CASES_PER_S,
             True, "/s"),
        Goal("  a backlog drains at", drain_per_s, PIPELINE_CASES_PER_S, True, "/s"),
        Goal(f"CPU per application ({', '.join(CPU_BUDGET_OF)})", cpu_ms,
             CPU_MS_PER_APPLICATION, False, "ms"),
        Goal("paced 20/s: accepted → case open p99", paced_p99_ms,
             paced_bound_ms(kafka_p99_ms) if not math.isnan(kafka_p99_ms) else nan, False,
             "ms", f"3 × Kafka p99 {_number(kafka_p99_ms)} ms + {PACED_SLACK_MS:.0f} ms"),
        Goal("intake alone ÷ bare endpoint", alone_share, INTAKE_ALONE_SHARE, True, ""),
        Goal("intake, pipeline busy ÷ bare endpoint", busy_share, INTAKE_BUSY_SHARE, True, ""),
        Goal("exactly once: lost + twice, every scope", exact, 0, False, "",
             "" if lost is None else f"lost {lost}, twice {twice}"),
    ]  # fmt: skip


def goal_table(goals: Sequence[Goal]) -> Table:
    table = Table(title="Issue 18: targets and this run", title_justify="left")
    table.add_column("target")
    table.add_column("goal", justify="right")
    table.add_column("measured", justify="right")
    table.add_column("met")
    table.add_column("")
    for goal in goals:
        verdict = {True: "[green]yes[/]", False: "[red]no[/]", None: "[dim]not measured[/]"}
        table.add_row(
            goal.name,
            goal.goal,
            f"{_number(goal.measured)} {goal.unit}".strip() if goal.met is not None else "—",
            verdict[goal.met],
            goal.detail,
        )
    return table
