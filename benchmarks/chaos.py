"""`make chaos`: faults injected into the running stack while windows post, then exactly once.

    make chaos                                  # every fault twice, 10 applications/s
    make chaos CHAOS_ARGS=--short               # every fault once, under three minutes (CI)
    .venv/bin/python -m benchmarks.chaos --help

The stack is `make run`'s (tooling/stack.py), with its supervisor starting again what dies.
Windows post at a steady rate, each application retried with its own Idempotency-Key until
intake answers it (benchmarks/chaos_windows.py). The faults (benchmarks/chaos_faults.py) come in
turn: SIGKILL of intake, routing, approval and delivery, of intake while its relay has a batch in
hand, and of the Kafka broker; PostgreSQL stopped in immediate mode; approval frozen past its
consumer's session timeout (a rebalance). After each: the recovery time (from the fault until an
application posted after it has its case opened; delivery is not on that path, so its figure
says only that the rest went on) and the windows' longest wait. At the end:
every accepted application has one case in approval's database and one case.opened event, none
lost, none twice. The exit status is 1 if anything was lost or doubled or a fault never recovered.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

from rich.console import Console
from rich.table import Table
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from benchmarks.chaos_faults import Fault, faults
from benchmarks.chaos_windows import Windows
from benchmarks.kafka_probe import CaseOpenedWatcher
from shared.auth import mint_token
from shared.messaging.kafka import client_security
from tooling.journey import Journey
from tooling.stack import RunningStack, running_stack
from tooling.supervisor import Supervisor

RECOVERY_LIMIT_SECONDS = 180.0


@dataclass(frozen=True)
class Outcome:
    fault: str
    recovered_after: float | None  # None: not within RECOVERY_LIMIT_SECONDS
    longest_wait: float
    accepted: int


def arguments(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="make chaos", description=__doc__.split("\n")[0])
    parser.add_argument("--short", action="store_true", help="every fault once, quickly (CI)")
    parser.add_argument("--rate", type=float, help="applications per second (10; short: 4)")
    parser.add_argument("--settle", type=float, help="seconds of load between faults (20; 4)")
    parser.add_argument("--rounds", type=int, help="times each fault is injected (2; short: 1)")
    options = parser.parse_args(argv)
    options.rate = options.rate or (4.0 if options.short else 10.0)
    options.settle = options.settle if options.settle is not None else (4 if options.short else 20)
    options.rounds = options.rounds or (1 if options.short else 2)
    return options


async def _recovered(windows: Windows, watcher: CaseOpenedWatcher, began: float) -> float | None:
    """Seconds from `began` until an application posted after it has its case opened."""
    while (waited := time.monotonic() - began) < RECOVERY_LIMIT_SECONDS:
        after = {p.application_no for p in windows.posted if p.began >= began and p.application_no}
        if any(number in watcher.opened for number in after):
            return waited
        await asyncio.sleep(0.2)
    return None


async def _cases(stack: RunningStack, numbers: set[str]) -> dict[str, int]:
    engine = create_async_engine(stack.settings.service_database_url("approval"), pool_size=1)
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(
                text(
                    "SELECT application_no, count(*) FROM cases "
                    "WHERE application_no = ANY(:numbers) GROUP BY application_no"
                ),
                {"numbers": sorted(numbers)},
            )
            return {str(number): int(count) for number, count in rows}
    finally:
        await engine.dispose()


async def under_watch(
    stack: RunningStack, console: Console
) -> tuple[Supervisor, asyncio.Task[None], CaseOpenedWatcher, str]:
    """What a run under load starts first (make chaos, make soak): the supervisor ticking in
    the background, a watcher of every case.opened from the beginning, a 阜阳 window's token."""
    supervisor = Supervisor(stack.processes(), console=console)

    async def supervise() -> None:
        while True:
            supervisor.tick()
            await asyncio.sleep(0.2)

    supervising = asyncio.create_task(supervise())
    watcher = CaseOpenedWatcher(
        stack.settings.kafka_bootstrap_servers,
        from_beginning=True,
        security=client_security(stack.settings),
    )
    await watcher.start()
    token = mint_token(
        stack.settings, role="window_clerk", locality="341200", window_id="W341200-01"
    )
    return supervisor, supervising, watcher, token


async def chaos(stack: RunningStack, options: argparse.Namespace, console: Console) -> int:
    supervisor, supervising, watcher, token = await under_watch(stack, console)
    # The sample scans the applications cite, uploaded at the window first (as a clerk would).
    await Journey(stack.settings, stack.urls).upload_sample_scans()
    windows = Windows(stack.urls["intake"], token, options.rate)
    load = asyncio.create_task(windows.run())
    outcomes: list[Outcome] = []
    try:
        await asyncio.sleep(options.settle)
        if not windows.accepted():
            refused = windows.refused()
            console.print(f"[red]nothing accepted before any fault: {refused[:1]}[/]")
            return 1
        schedule: list[Fault] = faults(list(stack.services)) * options.rounds
        for number, fault in enumerate(schedule, 1):
            console.print(f"[bold]fault {number}/{len(schedule)}: {fault.name}[/]")
            began = await fault.inject(stack)
            recovered = await _recovered(windows, watcher, began)
            await asyncio.sleep(options.settle)
            ended = time.monotonic()
            during = {p.application_no for p in windows.posted if began <= p.began < ended} - {None}
            outcomes.append(
                Outcome(fault.name, recovered, windows.longest_wait(began, ended), len(during))
            )
        windows.stop()
        await load
        accepted = windows.accepted()
        drain_began = time.monotonic()
        while time.monotonic() - drain_began < RECOVERY_LIMIT_SECONDS:
            cases = await _cases(stack, accepted)
            if len(cases) == len(accepted) and watcher.count_for(accepted) == len(accepted):
                break
            await asyncio.sleep(1)
        cases = await _cases(stack, accepted)
    finally:
        windows.stop()
        supervising.cancel()
        await watcher.stop()
    return report(console, outcomes, windows, watcher, accepted, cases, supervisor)


def report(
    console: Console,
    outcomes: list[Outcome],
    windows: Windows,
    watcher: CaseOpenedWatcher,
    accepted: set[str],
    cases: dict[str, int],
    supervisor: Supervisor,
) -> int:
    table = Table(title="make chaos: each fault while windows post")
    for column in ("fault", "recovered after s", "longest window wait s", "accepted meanwhile"):
        table.add_column(column, justify="left" if column == "fault" else "right")
    for outcome in outcomes:
        recovered = "never" if outcome.recovered_after is None else f"{outcome.recovered_after:.1f}"
        table.add_row(
            outcome.fault, recovered, f"{outcome.longest_wait:.1f}", str(outcome.accepted)
        )
    console.print(table)
    lost = [n for n in accepted if n not in cases or n not in watcher.opened]
    twice = [n for n in accepted if cases.get(n, 0) > 1 or len(watcher.event_ids.get(n, ())) > 1]
    restarts = {w.name: w.restarts for w in supervisor.watched.values() if w.restarts}
    totals = Table(title="exactly once, whole run")
    for column in ("posted", "accepted", "cases", "case.opened events", "lost", "twice", "refused"):
        totals.add_column(column, justify="right")
    totals.add_row(
        str(len(windows.posted)),
        str(len(accepted)),
        str(sum(cases.values())),
        str(sum(len(watcher.event_ids.get(n, ())) for n in accepted)),
        str(len(lost)),
        str(len(twice)),
        str(len(windows.refused())),
    )
    console.print(totals)
    console.print(f"restarts by the supervisor: {restarts}")
    failed = bool(lost or twice) or any(o.recovered_after is None for o in outcomes)
    if lost or twice:
        console.print(f"[red]lost: {sorted(lost)[:10]}  twice: {sorted(twice)[:10]}[/]")
    return 1 if failed else 0


def main(argv: Sequence[str] | None = None) -> None:
    options = arguments(argv)
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)  # a killed broker's reconnects
    console = Console()
    began = time.monotonic()
    with running_stack(console) as stack:
        outcome = asyncio.run(chaos(stack, options, console))
    console.print(f"whole chaos run: {time.monotonic() - began:.0f} s")
    raise SystemExit(outcome)


if __name__ == "__main__":
    main()
