"""The report printed at the end of a run: the saturation rounds, scale-out, exactness and
one-connection latency here; the pipeline, the paced load, flame graphs and the targets'
table in benchmarks/report_pipeline.py."""

from __future__ import annotations

import argparse
import statistics

from rich.console import Console
from rich.table import Table

from benchmarks import cpu
from benchmarks.figures import Figures, Round
from benchmarks.loadgen import LoadResult
from benchmarks.processes import BARE_POOL_SIZE
from benchmarks.report_pipeline import (
    cpu_per_request,
    ms,
    ratio,
    report_pipeline,
    shares,
    verdict,
)
from benchmarks.targets import INTAKE_ALONE_SHARE, INTAKE_BUSY_SHARE

# CPU% used outside this run during a round above which the report warns of a shared machine.
NOISY_OUTSIDE = 25.0


def report(
    figures: Figures, options: argparse.Namespace, databases: dict[str, str], out: Console
) -> None:
    report_saturation(figures, options, databases, out)
    report_pipeline(figures, options, out)


def _load_row(name: str, result: LoadResult) -> list[str]:
    return [
        name,
        f"{result.rate:.0f}",
        ms(result.latency_ms(0.5)),
        ms(result.latency_ms(0.99)),
        str(len(result.ok)),
        str(result.errors),
        str(result.timeouts),
    ]


def _load_table(title: str) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column("endpoint")
    for column in ("req/s", "p50 ms", "p99 ms", "ok", "errors", "timeouts"):
        table.add_column(column, justify="right")
    return table


def _new_connections(round_: Round, databases: dict[str, str]) -> str:
    """Connections the endpoint's process opened to its database during the round."""
    name = databases.get(round_.result.target.split(" ")[0], "")
    return str(round_.sessions[name]) if name in round_.sessions else "—"


def report_saturation(
    figures: Figures, options: argparse.Namespace, databases: dict[str, str], out: Console
) -> None:
    if figures.ceiling is not None:
        ceiling = figures.ceiling
        table = _load_table(
            f"Load generator ceiling: GET /healthz of the bare app, {options.connections} "
            f"connections, {options.ceiling_seconds:.0f} s"
        )
        table.add_row(*_load_row("bare GET /healthz", ceiling.result))
        out.print(table)
        generator = ceiling.cpu.get("benchmark", 0.0)
        per_core = ceiling.result.rate * 100 / generator if generator else float("nan")
        out.print(
            f"  the generator (this process) used {generator:.0f}% of a core for it, i.e. about "
            f"{per_core:.0f} req/s per core of its own; the bare app "
            f"{ceiling.cpu.get('bare app', 0):.0f}%; the machine "
            f"{ceiling.cpu.get(cpu.MACHINE, 0):.0f}% of 200%, "
            f"{ceiling.cpu.get(cpu.OUTSIDE, 0):.0f}% of it outside this run\n"
        )

    bare = [r for r in figures.rounds if r.result.target == "bare"]
    intake = [r for r in figures.rounds if r.result.target == "intake"]
    table = _load_table(
        f"Saturation: POST /v1/applications, {options.connections} connections, "
        f"{options.round_seconds:.0f} s rounds, alternating"
    )
    table.add_column("server CPU ms/req", justify="right")
    table.add_column("PostgreSQL CPU ms/req", justify="right")
    table.add_column("new PG conns", justify="right")
    for round_ in figures.rounds:
        server = ["bare app"] if round_.result.target == "bare" else ["intake"]
        table.add_row(
            *_load_row(f"{round_.result.label} · {round_.result.target}", round_.result),
            ms(cpu_per_request(round_, server)),
            ms(cpu_per_request(round_, ["postgresql"])),
            _new_connections(round_, databases),
        )
    if bare and intake:
        best_bare = max(bare, key=lambda r: r.result.rate)
        best_intake = max(intake, key=lambda r: r.result.rate)
        table.add_section()
        table.add_row(*_load_row("best · bare", best_bare.result), "", "", "")
        table.add_row(*_load_row("best · intake", best_intake.result), "", "", "")
        out.print(table)
        out.print(
            "  CPU ms/req: CPU time of the endpoint's process (and of the PostgreSQL server) per "
            "answered request; intake's includes its relay and consumers. "
            f"new PG conns: sessions opened to its database during the round (both pools hold "
            f"{BARE_POOL_SIZE}; more means connections opened and closed under load)\n"
        )
        median_bare = statistics.median(r.result.rate for r in bare)
        median_intake = statistics.median(r.result.rate for r in intake)
        ratios = Table(
            title=f"intake ÷ bare, requests/s (target ≥ {INTAKE_BUSY_SHARE}, the pipeline busy)",
            title_justify="left",
        )
        for column in [f"round {n}" for n in range(1, len(intake) + 1)] + ["best", "median"]:
            ratios.add_column(column, justify="right")
        ratios.add_row(
            *[ratio(i.result.rate, b.result.rate) for b, i in zip(bare, intake, strict=False)],
            ratio(best_intake.result.rate, best_bare.result.rate),
            ratio(median_intake, median_bare),
        )
        out.print(ratios)
        busy, alone = shares(figures)
        out.print(f"  best intake ÷ best bare = {busy:.2f}: {verdict(busy, INTAKE_BUSY_SHARE)}\n")
        if figures.alone is not None:
            out.print(
                f"  intake alone (routing, approval, delivery paused, as on machines of their "
                f"own): {figures.alone.result.rate:.0f} req/s, p50 "
                f"{figures.alone.result.latency_ms(0.5):.1f} ms, intake CPU "
                f"{ms(cpu_per_request(figures.alone, ['intake']))} ms/req; ÷ best bare = "
                f"{alone:.2f}: {verdict(alone, INTAKE_ALONE_SHARE)}\n"
            )
    else:
        out.print(table)

    if figures.rounds:
        summary = (cpu.OUTSIDE, cpu.MACHINE)
        labels = sorted(
            {
                label
                for r in figures.rounds
                for label, share in r.cpu.items()
                if share >= 0.5 and label not in summary
            },
            key=lambda label: -max(r.cpu.get(label, 0.0) for r in figures.rounds),
        )
        table = Table(
            title="CPU during the saturation rounds (% of one core; 2 cores = 200%)",
            title_justify="left",
        )
        table.add_column("process")
        for round_ in figures.rounds:
            table.add_column(f"{round_.result.label} · {round_.result.target}", justify="right")
        for label in labels:
            table.add_row(label, *[f"{r.cpu.get(label, 0.0):.0f}" for r in figures.rounds])
        table.add_section()
        table.add_row(
            "this run, all",
            *[f"{sum(r.cpu.get(label, 0.0) for label in labels):.0f}" for r in figures.rounds],
            style="bold",
        )
        for label in summary:
            table.add_row(label, *[f"{r.cpu.get(label, 0.0):.0f}" for r in figures.rounds])
        table.add_row(
            "(s waited before for a quiet pipeline)",
            *[f"{r.settled:.1f}" for r in figures.rounds],
            style="dim",
        )
        out.print(table)
        if intake:
            best_intake = max(intake, key=lambda r: r.result.rate)
            costs = dict(
                sorted(
                    (
                        (label, cpu_per_request(best_intake, [label]))
                        for label in labels
                        if label not in ("benchmark", "bare app")
                    ),
                    key=lambda item: -item[1],
                )
            )
            total = sum(v for v in costs.values() if v == v)
            listed = ", ".join(f"{label} {ms:.1f}" for label, ms in costs.items() if ms >= 0.05)
            out.print(
                f"  CPU per accepted application in the best intake round (ms): {listed}; "
                f"{total:.1f} ms in all, so 2 cores carry at most ≈ {2000 / total:.0f} "
                "applications/s through the whole pipeline (a floor: routing and approval "
                "finish the round's applications after it; the pipeline's own table counts "
                "their drain too)\n"
                if total
                else ""
            )
        outside = [r.cpu.get(cpu.OUTSIDE, 0.0) for r in figures.rounds]
        if max(outside) >= NOISY_OUTSIDE:
            out.print(
                f"  [yellow]note:[/] processes outside this run used {min(outside):.0f}–"
                f"{max(outside):.0f}% CPU during the rounds: the machine was shared, so these "
                "figures are disturbed (compare rounds, rerun on a quiet machine)\n"
            )

    if figures.scale_out is not None and intake:
        best_intake = max(intake, key=lambda r: r.result.rate)
        table = _load_table(
            f"Scale-out: {options.connections} connections over two intake processes, "
            f"{options.scale_out_seconds:.0f} s"
        )
        table.add_column("new PG conns", justify="right")
        table.add_row(
            *_load_row("intake ×1 (best round)", best_intake.result),
            _new_connections(best_intake, databases),
        )
        table.add_row(
            *_load_row("intake ×2", figures.scale_out.result),
            _new_connections(figures.scale_out, databases),
        )
        out.print(table)
        busiest = ", ".join(
            f"{label} {share:.0f}%"
            for label, share in sorted(figures.scale_out.cpu.items(), key=lambda kv: -kv[1])
            if share >= 5 and label != cpu.MACHINE
        )
        out.print(
            f"  ×2 ÷ ×1: {ratio(figures.scale_out.result.rate, best_intake.result.rate)}"
            f"   CPU during the ×2 round: {busiest}\n"
        )

    if figures.exactly_once:
        table = Table(
            title="Exactly once: each accepted application has one case and one case.opened",
            title_justify="left",
        )
        table.add_column("scope")
        for column in ("accepted", "cases", "case.opened", "lost", "twice", "twice (2 ids)"):
            table.add_column(column, justify="right")
        table.add_column("waited s", justify="right")
        for tally in figures.exactly_once:
            table.add_row(
                tally.scope,
                str(tally.accepted),
                str(tally.cases),
                str(tally.opened),
                str(tally.lost),
                str(tally.twice),
                str(tally.twice_distinct),
                f"{tally.waited:.1f}",
            )
        out.print(table)
        out.print(
            "  lost: accepted, no case in approval's database after the wait; twice: more than "
            "one case.opened record (2 ids: under two event ids, not one event sent again)\n"
        )

    if figures.sequential:
        table = Table(
            title=f"One connection, {options.sequential} requests each, in turn",
            title_justify="left",
        )
        for column in ("endpoint", "p50 ms", "p99 ms", "ok", "errors"):
            table.add_column(column, justify="left" if column == "endpoint" else "right")
        for name, result in figures.sequential.items():
            table.add_row(
                name,
                ms(result.latency_ms(0.5)),
                ms(result.latency_ms(0.99)),
                str(len(result.ok)),
                str(result.errors + result.timeouts),
            )
        bare_seq, intake_seq = figures.sequential.get("bare"), figures.sequential.get("intake")
        if bare_seq is not None and intake_seq is not None:
            table.add_section()
            table.add_row(
                "intake ÷ bare latency",
                ratio(intake_seq.latency_ms(0.5), bare_seq.latency_ms(0.5)),
                ratio(intake_seq.latency_ms(0.99), bare_seq.latency_ms(0.99)),
                "",
                "",
            )
        out.print(table)
