"""`make soak`'s verdict, tables and plots (one PNG per process, the messaging tables, latency)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from statistics import mean

from rich.console import Console
from rich.table import Table

from benchmarks.soak_samples import Memory, Sample

GROWTH_LIMIT = 0.10
# Mean of this many samples at each end, so one garbage collection does not decide.
EDGE_SAMPLES = 3


@dataclass(frozen=True)
class Growth:
    process: str
    start_mb: float  # at the end of the warm-up
    end_mb: float
    max_mb: float
    first_mb: float  # the very first sample, before the warm-up

    @property
    def growth(self) -> float:
        return (self.end_mb - self.start_mb) / self.start_mb if self.start_mb else 0.0

    @property
    def flat(self) -> bool:
        return self.growth <= GROWTH_LIMIT


def growths(samples: list[Sample], warm_up: float) -> list[Growth]:
    after = [s for s in samples if s.at >= warm_up] or samples
    names = sorted({name for s in samples for name in s.memory})
    found = []
    for name in names:
        series = [s.memory[name].judged_mb for s in after if name in s.memory]
        if not series:
            continue
        found.append(
            Growth(
                name,
                mean(series[:EDGE_SAMPLES]),
                mean(series[-EDGE_SAMPLES:]),
                max(series),
                next(s.memory[name].judged_mb for s in samples if name in s.memory),
            )
        )
    return found


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


@dataclass(frozen=True)
class Interval:
    began_s: float
    posted: int
    answer_p50: float
    answer_p99: float
    opened_p50: float
    opened_p99: float


def intervals(
    answers: list[tuple[float, float]], opened: list[tuple[float, float]], width: float
) -> list[Interval]:
    """(posted at s, seconds) pairs: the window's answer, accepted → case opened; per `width`."""
    found = []
    end = max((at for at, _ in answers), default=0.0)
    start = 0.0
    while start <= end:
        a = [w for at, w in answers if start <= at < start + width]
        o = [w for at, w in opened if start <= at < start + width]
        found.append(
            Interval(
                start,
                len(a),
                percentile(a, 50) * 1000,
                percentile(a, 99) * 1000,
                percentile(o, 50) * 1000,
                percentile(o, 99) * 1000,
            )
        )
        start += width
    return found


def pruned(samples: list[Sample], retention: float) -> tuple[bool | None, str]:
    """Whether the sent outbox and inbox rows stop growing once the retention has passed: the
    last sample's rows at most 25 % above those half-way (None: the run too short to tell)."""
    total = [(s.at, s.messaging["outbox_sent"] + s.messaging["inbox"]) for s in samples]
    if not total or total[-1][0] < 3 * retention:
        return None, "run shorter than three retention periods: not judged"
    middle = min(total, key=lambda pair: abs(pair[0] - total[-1][0] / 2))[1]
    last = total[-1][1]
    return last <= 1.25 * max(
        middle, 1
    ), f"sent outbox + inbox rows: {middle} half-way, {last} at the end"


def table_of_memory(console: Console, found: list[Growth]) -> None:
    table = Table(
        title="memory per process (MB: RSS; PostgreSQL: its tree's PSS without shared memory)"
    )
    for column in ("process", "first", "start", "end", "max", "growth", "flat"):
        table.add_column(column, justify="left" if column == "process" else "right")
    for g in found:
        table.add_row(
            g.process,
            f"{g.first_mb:.0f}",
            f"{g.start_mb:.0f}",
            f"{g.end_mb:.0f}",
            f"{g.max_mb:.0f}",
            f"{g.growth * 100:+.1f} %",
            "[green]yes[/]" if g.flat else "[red]no[/]",
        )
    console.print(table)


def table_of_latency(console: Console, found: list[Interval], width_minutes: float) -> None:
    table = Table(title=f"latency per {width_minutes:g}-minute window (ms)")
    for column in ("from min", "posted", "answer p50", "answer p99", "case p50", "case p99"):
        table.add_column(column, justify="right")
    for i in found:
        table.add_row(
            f"{i.began_s / 60:.0f}",
            str(i.posted),
            f"{i.answer_p50:.0f}",
            f"{i.answer_p99:.0f}",
            f"{i.opened_p50:.0f}",
            f"{i.opened_p99:.0f}",
        )
    console.print(table)


def table_of_messaging(console: Console, samples: list[Sample], every: int) -> None:
    table = Table(title="outbox and inbox rows, all service databases")
    for column in ("at min", "outbox sent", "outbox waiting", "inbox"):
        table.add_column(column, justify="right")
    for s in samples[::every] + samples[-1:]:
        m = s.messaging
        table.add_row(
            f"{s.at / 60:.1f}", str(m["outbox_sent"]), str(m["outbox_waiting"]), str(m["inbox"])
        )
    console.print(table)


def plots(
    directory: Path, samples: list[Sample], found: list[Growth], warm_up: float
) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for g in found:
        points = [(s.at / 60, s.memory[g.process]) for s in samples if g.process in s.memory]
        figure, axes = plt.subplots(figsize=(9, 4), dpi=100)
        axes.plot([t for t, _ in points], [m.tree_mb for _, m in points], label="PSS of its tree")
        axes.plot(
            [t for t, _ in points],
            [m.rss_mb for _, m in points],
            label="RSS of the process itself",
            alpha=0.6,
        )
        if any(m.members > 1 for _, m in points):
            axes.plot(
                [t for t, _ in points],
                [m.own_mb for _, m in points],
                label="PSS of its tree without shared memory (judged)",
            )
        axes.axvline(warm_up / 60, color="grey", linestyle=":", label="end of warm-up")
        axes.axhspan(g.start_mb, g.start_mb * (1 + GROWTH_LIMIT), color="green", alpha=0.1)
        axes.set_xlabel("minutes")
        axes.set_ylabel("MB")
        axes.set_ylim(bottom=0)
        verdict = "flat" if g.flat else "GROWS"
        axes.set_title(f"{g.process}: {g.growth * 100:+.1f} % after warm-up ({verdict})")
        axes.legend(loc="lower right")
        figure.tight_layout()
        path = directory / f"memory-{g.process.replace(' ', '-')}.png"
        figure.savefig(path)
        plt.close(figure)
        written.append(path)
    figure, axes = plt.subplots(figsize=(9, 4), dpi=100)
    for key in ("outbox_sent", "outbox_waiting", "inbox"):
        axes.plot([s.at / 60 for s in samples], [s.messaging[key] for s in samples], label=key)
    axes.set_xlabel("minutes")
    axes.set_ylabel("rows")
    axes.set_title("outbox and inbox rows (pruned after the retention)")
    axes.legend()
    figure.tight_layout()
    path = directory / "messaging-rows.png"
    figure.savefig(path)
    plt.close(figure)
    return [*written, path]


def save(directory: Path, samples: list[Sample], summary: dict[str, object]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "soak.json"
    body = {"summary": summary, "samples": [asdict(s) for s in samples]}
    path.write_text(json.dumps(body, indent=1, default=str))
    return path


def replay(path: Path, warm_up_minutes: float = 5.0) -> int:
    """The memory verdict and plots again from a run's soak.json (for a changed criterion)."""
    body = json.loads(path.read_text())
    samples = [
        Sample(
            s["at"],
            {
                name: Memory(
                    m["rss_mb"],
                    m["tree_mb"],
                    m.get("members", 2 if name == "postgres" else 1),
                    m.get("own_mb", 0.0),
                )
                for name, m in s["memory"].items()
            },
            s["messaging"],
        )
        for s in body["samples"]
    ]
    found = growths(samples, warm_up_minutes * 60)
    console = Console()
    table_of_memory(console, found)
    for written in plots(path.parent, samples, found, warm_up_minutes * 60):
        console.print(str(written))
    return 0 if all(g.flat for g in found) else 1


if __name__ == "__main__":
    import sys

    raise SystemExit(replay(Path(sys.argv[1])))
