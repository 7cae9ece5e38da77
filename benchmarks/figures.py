"""What one run measured, phase by phase, for the report."""

from __future__ import annotations

from dataclasses import dataclass, field

from benchmarks.flame import FlameGraphs
from benchmarks.loadgen import LoadResult
from benchmarks.pipeline import PipelineRates


@dataclass
class Round:
    result: LoadResult
    cpu: dict[str, float]  # label → % of one core during the round
    settled: float = 0.0  # seconds waited before it for the pipeline to catch up
    # PostgreSQL sessions (connections) opened during the round, per database.
    sessions: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Tally:
    scope: str
    accepted: int  # applications accepted (201) in that scope
    cases: int  # of them, with a row in approval's cases table
    opened: int  # of them, with a case.opened event on tongban.approval.events
    lost: int  # accepted without a case
    twice: int  # with more than one case.opened record
    twice_distinct: int  # of those, under more than one event id
    waited: float  # seconds waited for the pipeline before counting


@dataclass(frozen=True)
class Cycle:
    """A saturation round of intake and the pipeline's drain after it, counted on the
    applications of that round only, from a quiet pipeline to a quiet pipeline."""

    name: str
    round: Round
    rates: PipelineRates
    cpu_ms: dict[str, float]  # label → CPU ms per accepted application, load and drain
    idle: dict[str, float]  # label → % of one core used idle, just before the round
    drained: bool  # every case open (and the services quiet) within --drain-timeout
    paused: bool  # routing, approval and delivery were paused during the load


@dataclass
class Figures:
    ceiling: Round | None = None
    rounds: list[Round] = field(default_factory=list)
    scale_out: Round | None = None
    # Intake with routing, approval and delivery paused (as on machines of their own).
    alone: Round | None = None
    cycles: list[Cycle] = field(default_factory=list)
    # The saturation round during which py-spy recorded the services, and what it wrote.
    profiled: Round | None = None
    flame_graphs: FlameGraphs | None = None
    sequential: dict[str, LoadResult] = field(default_factory=dict)
    case_open_ms: list[float] = field(default_factory=list)  # paced load
    case_open_missing: int = 0
    # The same, hop by hop (benchmarks.hops): hop → milliseconds per application.
    case_open_hops: dict[str, list[float]] = field(default_factory=dict)
    paced: LoadResult | None = None
    raw_ms: list[float] = field(default_factory=list)  # raw Kafka, alongside the paced load
    exactly_once: list[Tally] = field(default_factory=list)
    results: list[LoadResult] = field(default_factory=list)  # every request, for the plot
    origin: float = 0.0
