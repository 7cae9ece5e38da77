"""The report's second half: cases opened per second while windows post and while a backlog
drains, CPU per application per process, the paced load against Kafka's floor, the flame
graphs, and the targets' table of issue 18."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from rich.console import Console
from rich.table import Table

from benchmarks import cpu
from benchmarks.figures import Cycle, Figures, Round
from benchmarks.loadgen import percentile
from benchmarks.targets import (
    CPU_BUDGET_OF,
    CPU_MS_PER_APPLICATION,
    Goal,
    goal_table,
    issue_goals,
    paced_bound_ms,
)

NAN = float("nan")


def ms(value: float) -> str:
    return "—" if value != value else f"{value:.1f}"  # NaN when nothing was measured


def ratio(numerator: float, denominator: float) -> str:
    return f"{numerator / denominator:.2f}" if denominator and numerator == numerator else "—"


def verdict(value: float, bound: float) -> str:
    met = "[green]meets[/]" if value >= bound else "[red]is below[/]"
    return f"{met} the {bound} target"


def cpu_per_request(round_: Round, labels: Sequence[str]) -> float:
    served = len(round_.result.ok)
    share = sum(round_.cpu.get(label, 0.0) for label in labels) / 100
    return share * round_.result.elapsed / served * 1000 if served else NAN


def shares(figures: Figures) -> tuple[float, float]:
    """(best intake ÷ best bare with the pipeline busy, intake alone ÷ best bare)."""
    bare = [r.result.rate for r in figures.rounds if r.result.target == "bare"]
    intake = [r.result.rate for r in figures.rounds if r.result.target == "intake"]
    if not bare or not max(bare):
        return NAN, NAN
    busy = max(intake) / max(bare) if intake else NAN
    alone = figures.alone.result.rate / max(bare) if figures.alone is not None else NAN
    return busy, alone


def budget_ms(cycle: Cycle) -> float:
    """CPU ms per application of the processes the issue's budget counts."""
    return sum(cycle.cpu_ms.get(label, 0.0) for label in CPU_BUDGET_OF)


def _cycle(figures: Figures, paused: bool) -> Cycle | None:
    return next((c for c in figures.cycles if c.paused == paused), None)


def report_pipeline(figures: Figures, options: argparse.Namespace, out: Console) -> None:
    if figures.cycles:
        _pipeline_table(figures.cycles, out)
        _cpu_table(figures.cycles, out)
    if figures.paced is not None:
        _paced_table(figures, options, out)
    if figures.flame_graphs is not None:
        _flame_graphs(figures, out)
    out.print(goal_table(goals_of(figures)))


def _pipeline_table(cycles: Sequence[Cycle], out: Console) -> None:
    table = Table(
        title="The pipeline: cases opened (accepted → routed → case open), each round from a "
        "quiet pipeline until its last case opened",
        title_justify="left",
    )
    table.add_column("round")
    for column in (
        "accepted",
        "posted/s",
        "opened/s while posting",
        "backlog at load end",
        "best window /s",
        "drain s",
        "drain cases/s",
        "all open",
    ):
        table.add_column(column, justify="right")
    for cycle in cycles:
        rates = cycle.rates
        table.add_row(
            f"{cycle.name}{' (downstream paused)' if cycle.paused else ''}",
            str(rates.accepted),
            f"{rates.posted_per_s:.0f}",
            "—"
            if cycle.paused
            else f"{rates.opened_during_load_per_s:.0f}"
            + ("" if rates.posted_faster else " (kept up)"),
            str(rates.backlog_at_end),
            f"{rates.best_window_per_s:.0f} ({rates.window_seconds:.0f} s)",
            f"{rates.drain_seconds:.1f}"
            + (f" (+{rates.resume_lag:.1f} to resume)" if cycle.paused else ""),
            ms(rates.drain_per_s),
            "yes" if cycle.drained else "[red]no[/]",
        )
    out.print(table)
    out.print(
        "  opened/s while posting: cases opened between the round's first and last accept "
        "(its limit only when windows posted faster, i.e. a backlog grew); drain: from the last "
        "accept (a paused pipeline: from its first case open after resuming, which is shown "
        "apart) to the last case open; best window: the most "
        "cases opened in any 10 s\n"
    )


def _cpu_table(cycles: Sequence[Cycle], out: Console) -> None:
    table = Table(
        title="CPU per application per process, ms (the round and its drain, from a quiet "
        "pipeline to a quiet pipeline)",
        title_justify="left",
    )
    table.add_column("process")
    for cycle in cycles:
        table.add_column(cycle.name, justify="right")
    summary = {cpu.MACHINE, cpu.OUTSIDE}
    labels = sorted(
        {label for c in cycles for label, v in c.cpu_ms.items() if v >= 0.05} - summary,
        key=lambda label: -max(c.cpu_ms.get(label, 0.0) for c in cycles),
    )
    for label in labels:
        table.add_row(label, *[f"{c.cpu_ms.get(label, 0.0):.2f}" for c in cycles])
    table.add_section()
    table.add_row(
        f"{' + '.join(CPU_BUDGET_OF)} (target ≤ {CPU_MS_PER_APPLICATION:.0f})",
        *[f"{budget_ms(c):.2f}" for c in cycles],
        style="bold",
    )
    table.add_section()
    for label in (label for label in labels if label in CPU_BUDGET_OF):
        table.add_row(
            f"({label} idle before, % of a core)",
            *[f"{c.idle.get(label, 0.0):.1f}" for c in cycles],
            style="dim",
        )
    out.print(table)
    out.print(
        "  each process's CPU time from the round's start until its last case opened and the "
        "services had been quiet for 2 s, over the applications the round accepted (idle: "
        "its use over 2 s just before the round, counted in); benchmark: the load generator\n"
    )


def _paced_table(figures: Figures, options: argparse.Namespace, out: Console) -> None:
    assert figures.paced is not None
    table = Table(
        title=f"Paced load: {options.paced_rate:.0f} applications/s for "
        f"{options.paced_seconds:.0f} s, and raw Kafka round trips alongside at the same pace",
        title_justify="left",
    )
    for column in ("measure", "n", "p50 ms", "p99 ms", "max ms"):
        table.add_column(column, justify="left" if column == "measure" else "right")
    paced = [s.latency * 1000 for s in figures.paced.ok]
    hops = [(f"  {hop}", values) for hop, values in figures.case_open_hops.items()]
    for name, values in (
        ("POST /v1/applications (from its due time)", paced),
        ("accepted_at → opened_at (case.opened)", figures.case_open_ms),
        *hops,
        ("raw send → receive (acks=all, idempotent)", figures.raw_ms),
    ):
        table.add_row(
            name,
            str(len(values)),
            ms(percentile(values, 0.5)),
            ms(percentile(values, 0.99)),
            ms(max(values) if values else NAN),
        )
    out.print(table)
    if figures.case_open_missing:
        out.print(f"  {figures.case_open_missing} applications had no case.opened within 60 s")
    if figures.case_open_ms and figures.raw_ms:
        case_p99 = percentile(figures.case_open_ms, 0.99)
        bound = paced_bound_ms(percentile(figures.raw_ms, 0.99))
        held = "[green]holds[/]" if case_p99 <= bound else "[red]does not hold[/]"
        out.print(
            f"  target case-open p99 ≤ 3 × raw p99 + 20 ms: {case_p99:.1f} ms vs {bound:.1f} ms"
            f" → {held}\n"
        )


def _flame_graphs(figures: Figures, out: Console) -> None:
    graphs, profiled = figures.flame_graphs, figures.profiled
    assert graphs is not None
    during = (
        f" during a saturation round of intake of its own ({profiled.result.rate:.0f} req/s, "
        f"py-spy {profiled.cpu.get('py-spy', 0.0):.0f}% of a core)"
        if profiled is not None
        else ""
    )
    out.print(f"Flame graphs (py-spy, non-blocking){during}:")
    for name, path in graphs.written.items():
        out.print(f"  {name:<9} {path}")
    for name, why in graphs.failed.items():
        out.print(f"  {name:<9} [yellow]none:[/] {why}")
    out.print()


def goals_of(figures: Figures) -> list[Goal]:
    busy_cycle, backlog = _cycle(figures, False), _cycle(figures, True)
    busy, alone = shares(figures)
    best_windows = [c.rates.best_window_per_s for c in figures.cycles]
    drain = backlog or busy_cycle
    costed = busy_cycle or backlog
    return issue_goals(
        sustained_per_s=busy_cycle.rates.opened_during_load_per_s if busy_cycle else NAN,
        posted_per_s=busy_cycle.rates.posted_per_s if busy_cycle else 0.0,
        posted_faster=busy_cycle.rates.posted_faster if busy_cycle else False,
        best_window_per_s=max(best_windows) if best_windows else NAN,
        drain_per_s=drain.rates.drain_per_s if drain is not None else NAN,
        cpu_ms=budget_ms(costed) if costed is not None else NAN,
        paced_p99_ms=percentile(figures.case_open_ms, 0.99),
        kafka_p99_ms=percentile(figures.raw_ms, 0.99),
        alone_share=alone,
        busy_share=busy,
        lost=max((t.lost for t in figures.exactly_once), default=None),
        twice=max((t.twice for t in figures.exactly_once), default=None),
    )
