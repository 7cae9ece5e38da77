"""Benchmark: intake against a bare FastAPI + asyncpg floor, and the journey to an open case,
on the real stack (Kafka, PostgreSQL and the four services as processes) on this machine.

    make bench                                   # 2–4 minutes on 2 cores
    .venv/bin/python -m benchmarks.journey --round-seconds 15 --rounds 3
    .venv/bin/python -m benchmarks.journey --help  # every duration and count

In one run, side by side:

1. the load generator's own ceiling (GET /healthz of the bare app, 32 connections);
2. throughput at saturation, 32 connections: `POST /v1/applications` of intake and of a bare
   FastAPI + asyncpg endpoint that this benchmark starts itself (benchmarks/bare_insert.py, its
   own database on the same PostgreSQL server, a pool as large as intake's), the same body, in
   alternating rounds; requests/s, p50/p99, errors, the CPU each process used, intake/bare;
3. two intake processes sharing the 32 connections, against one;
4. exactly once: every application accepted in the run has one case in approval's database
   and one gov.tongban.case.opened.v1 event on tongban.approval.events;
5. one connection, request after request: the latency of both endpoints;
6. accepted → case open at light load (`opened_at` of the event minus `accepted_at` of the
   201 answer) against a raw producer → consumer round trip on the same broker;
7. a PNG of every request's latency over the run, under .tongban/bench/.

Figures are printed, never asserted: a slow or failed target fails nothing; the exit status
is non-zero only when the stack or the benchmark itself cannot run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TypeVar

import httpx
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from benchmarks import cpu
from benchmarks.kafka_probe import CaseOpenedWatcher, raw_round_trip
from benchmarks.loadgen import (
    LoadResult,
    Sample,
    Sequential,
    Target,
    get_request,
    percentile,
    post_requests,
    saturate,
)
from benchmarks.plot import latency_plot
from shared.auth import mint_token
from shared.messaging.kafka import client_security
from shared.settings import with_database
from tooling.infra import ManagedProcess, ensure_databases, free_ports, stop_processes
from tooling.journey import Journey, household_application, sample_applicant
from tooling.stack import RunningStack, running_stack

T = TypeVar("T")

REPO_ROOT = Path(__file__).resolve().parents[1]
WORK_DIR = REPO_ROOT / ".tongban"
BARE_DATABASE = "tongban_bench_bare"
HOST = "127.0.0.1"
START_TIMEOUT = 90.0
# CPU% used outside this run during a round above which the report warns of a shared machine.
NOISY_OUTSIDE = 25.0
# The four services together use less CPU than this (% of one core) when idle: outbox relays
# polling, consumers waiting.
QUIET_SERVICES = 25.0
# Intake's pool: SQLAlchemy pool_size=5 + max_overflow=5 (shared/db/engine.py).
BARE_POOL_SIZE = 10


def arguments(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add = parser.add_argument
    add("--connections", type=int, default=32, help="connections at saturation (32)")
    add("--round-seconds", type=float, default=12.0, help="length of one saturation round (12)")
    add("--rounds", type=int, default=2, help="bare/intake round pairs, alternating (2)")
    add("--warmup-seconds", type=float, default=2.0, help="unreported warm-up per endpoint (2)")
    add("--ceiling-seconds", type=float, default=4.0, help="load generator ceiling run (4)")
    add("--scale-out-seconds", type=float, default=12.0, help="two-intake round; 0 skips (12)")
    add(
        "--alone-seconds",
        type=float,
        default=12.0,
        help="intake round with routing, approval and delivery paused; 0 skips (12)",
    )
    add("--sequential", type=int, default=200, help="one-connection requests per endpoint (200)")
    add("--light", type=int, default=100, help="applications at light load (100)")
    add("--light-pause", type=float, default=0.1, help="pause between them, seconds (0.1)")
    add("--raw-records", type=int, default=300, help="raw Kafka round trips (300)")
    add("--drain-timeout", type=float, default=120.0, help="wait for every case, seconds (120)")
    add(
        "--settle-seconds",
        type=float,
        default=15.0,
        help="before each round, wait up to this long until routing and approval have opened "
        "the case of every application accepted so far, so that no round pays for the "
        "previous one's backlog (15)",
    )
    add("--request-timeout", type=float, default=10.0, help="one request, seconds (10)")
    return parser.parse_args(argv)


# ---------------------------------------------------------------------------------------------
# Processes the benchmark starts itself


def _wait_http_ready(process: ManagedProcess, url: str, what: str) -> None:
    async def wait() -> None:
        async with httpx.AsyncClient(timeout=2) as http:

            async def serves() -> bool:
                try:
                    return (await http.get(url)).status_code == 200
                except httpx.HTTPError:
                    return False

            await process.wait_ready(
                serves,
                deadline=time.monotonic() + START_TIMEOUT,
                not_ready=f"{what} was not ready on {url} within {START_TIMEOUT:.0f} s.",
                every=0.2,
            )

    asyncio.run(wait())


@contextlib.contextmanager
def bare_app(stack: RunningStack, console: Console) -> Iterator[tuple[int, ManagedProcess]]:
    """The bare FastAPI + asyncpg app on a free port, its own empty database on the stack's
    PostgreSQL server."""
    server_url = stack.settings.database_url
    ensure_databases(server_url, [BARE_DATABASE], recreate=True)
    (port,) = free_ports(1)
    log_dir = WORK_DIR / "logs"
    process = ManagedProcess(
        "bare FastAPI + asyncpg app",
        [
            sys.executable,
            "-m",
            "benchmarks.bare_insert",
            "--port",
            str(port),
            "--database-url",
            with_database(server_url, BARE_DATABASE),
            "--pool-size",
            str(BARE_POOL_SIZE),
        ],
        log_path=log_dir / "bench-bare.log",
        pid_file=log_dir / "bench-bare.pid",
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        stop_signal=signal.SIGTERM,
    )
    process.start()
    try:
        with console.status("Starting the bare FastAPI + asyncpg app…"):
            _wait_http_ready(process, f"http://{HOST}:{port}/readyz", "The bare app")
        console.print(f"[green]✓[/] bare app  http://{HOST}:{port}  (log: {process.log_path})")
        yield port, process
    finally:
        stop_processes([process], grace=10)


async def start_second_intake(stack: RunningStack) -> tuple[int, ManagedProcess]:
    """Another intake process, started the way the stack starts the first one (its command
    and environment), on a free port."""
    first = stack.services["intake"].process
    (port,) = free_ports(1)
    argv = list(first.argv)
    argv[argv.index("--port") + 1] = str(port)
    log_dir = WORK_DIR / "logs"
    process = ManagedProcess(
        "second intake service",
        argv,
        log_path=log_dir / "intake-2.log",
        pid_file=log_dir / "intake-2.pid",
        cwd=first.cwd,
        env=first.env,
        stop_signal=signal.SIGTERM,
    )
    process.start()
    await asyncio.to_thread(
        _wait_http_ready, process, f"http://{HOST}:{port}/readyz", "The second intake"
    )
    return port, process


# ---------------------------------------------------------------------------------------------
# The measurements


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


@dataclass
class Figures:
    ceiling: Round | None = None
    rounds: list[Round] = field(default_factory=list)
    scale_out: Round | None = None
    # Intake with routing, approval and delivery paused (as on machines of their own).
    alone: Round | None = None
    sequential: dict[str, LoadResult] = field(default_factory=dict)
    case_open_ms: list[float] = field(default_factory=list)
    case_open_missing: int = 0
    raw_ms: list[float] = field(default_factory=list)
    exactly_once: list[Tally] = field(default_factory=list)
    results: list[LoadResult] = field(default_factory=list)  # every request, for the plot
    origin: float = 0.0


class Bench:
    def __init__(
        self,
        stack: RunningStack,
        bare_port: int,
        bare_process: ManagedProcess,
        options: argparse.Namespace,
        progress: Progress,
    ) -> None:
        self.stack = stack
        self.options = options
        self.progress = progress
        self.figures = Figures()
        self.accepted: set[str] = set()
        self.bare_port = bare_port
        # Approval's database, to count the cases of the applications accepted in this run.
        self.engine: AsyncEngine = create_async_engine(
            stack.settings.service_database_url("approval"), pool_size=1
        )
        # The server's own database, for pg_stat_database.
        self.server: AsyncEngine = create_async_engine(stack.settings.database_url, pool_size=1)
        self.databases = {
            "intake": make_url(stack.settings.service_database_url("intake")).database or "",
            "bare": BARE_DATABASE,
        }
        self.labels = {
            service.process.popen.pid: name
            for name, service in stack.services.items()
            if service.process.popen is not None
        }
        if bare_process.popen is not None:
            self.labels[bare_process.popen.pid] = "bare app"
        token = mint_token(
            stack.settings, role="window_clerk", locality="341200", window_id="W341200-01"
        )
        self.headers = {"Authorization": f"Bearer {token}"}
        self.bodies = [
            json.dumps(
                household_application(sample_applicant("340104", sequence=n)),
                ensure_ascii=False,
            ).encode()
            for n in range(1, 1000)
        ]
        self.intake_port = int(stack.urls["intake"].rsplit(":", 1)[1])
        self.intake = self.applications("intake", [self.intake_port])
        self.bare = self.applications("bare", [bare_port])

    def applications(self, name: str, ports: Sequence[int]) -> Target:
        return Target(
            name,
            HOST,
            ports,
            post_requests("/v1/applications", HOST, ports[0], self.bodies, self.headers),
        )

    def keep(self, result: LoadResult) -> None:
        """Every request goes to the plot; intake's application numbers to `accepted`."""
        self.figures.results.append(result)
        if result.target.startswith("intake"):
            for body in result.bodies:
                self.accepted.add(json.loads(body)["application_no"])

    async def timed(self, description: str, seconds: float, work: Awaitable[T]) -> T:
        """Await `work` under a progress bar that fills over `seconds`."""
        task = self.progress.add_task(description, total=seconds)
        began = time.perf_counter()

        async def advance() -> None:
            while True:
                self.progress.update(task, completed=min(seconds, time.perf_counter() - began))
                await asyncio.sleep(0.25)

        ticker = asyncio.create_task(advance())
        try:
            return await work
        finally:
            ticker.cancel()
            self.progress.update(task, completed=seconds)

    async def settle(self, before: str) -> float:
        """Seconds waited (at most --settle-seconds) until approval has a case for every
        application accepted so far and the services are idle again (intake also records the
        progress events that follow): one round's downstream work stays out of the next."""
        numbers = set(self.accepted)
        if not numbers or self.options.settle_seconds <= 0:
            return 0.0
        task = self.progress.add_task(f"  pipeline catching up before {before}", total=None)
        began = time.perf_counter()
        services = list(self.stack.services)
        previous = cpu.snapshot(began, self.labels)
        while True:
            await asyncio.sleep(0.5)
            cases = await self.cases_among(numbers)
            now = cpu.snapshot(time.perf_counter(), self.labels)
            busy = sum(cpu.usage(previous, now).get(name, 0.0) for name in services)
            previous = now
            self.progress.update(task, total=len(numbers), completed=cases)
            waited = time.perf_counter() - began
            quiet = cases >= len(numbers) and busy < QUIET_SERVICES
            if quiet or waited > self.options.settle_seconds:
                self.progress.stop_task(task)
                return waited

    async def measured(
        self,
        description: str,
        target: Target,
        seconds: float,
        *,
        expected: int = 201,
        settle: bool = False,
    ) -> Round:
        settled = await self.settle(f"{description} · {target.name}") if settle else 0.0
        database_before = await self.database_sessions()
        before = cpu.snapshot(time.perf_counter(), self.labels)
        result = await self.timed(
            f"{description} · {target.name}",
            seconds,
            saturate(
                target,
                label=description,
                connections=self.options.connections,
                duration=seconds,
                expected=expected,
                answer_within=self.options.request_timeout,
                keep_bodies=target.name.startswith("intake"),
            ),
        )
        after = cpu.snapshot(time.perf_counter(), self.labels)
        self.keep(result)
        await asyncio.sleep(0.5)  # backends report their statistics when idle
        sessions = {
            name: count - database_before.get(name, 0)
            for name, count in (await self.database_sessions()).items()
        }
        return Round(result, cpu.usage(before, after), settled, sessions)

    async def database_sessions(self) -> dict[str, int]:
        """Sessions ever opened per database of the PostgreSQL server (pg_stat_database,
        PostgreSQL ≥ 14; empty before)."""
        try:
            async with self.server.connect() as connection:
                rows = await connection.execute(
                    text("SELECT datname, sessions FROM pg_stat_database WHERE datname IS NOT NULL")
                )
                return {str(name): int(count) for name, count in rows}
        except DBAPIError:
            return {}

    async def run(self) -> Figures:
        try:
            return await self._run()
        finally:
            await self.engine.dispose()
            await self.server.dispose()

    async def _run(self) -> Figures:
        options, figures = self.options, self.figures
        # The applications reference the sample scans by sha256: a window uploads them first.
        await Journey(self.stack.settings, self.stack.urls).upload_sample_scans()
        figures.origin = time.perf_counter()
        ceiling = Target(
            "bare GET /healthz", HOST, [self.bare_port], get_request("/healthz", HOST, 0)
        )
        figures.ceiling = await self.measured(
            "generator ceiling", ceiling, options.ceiling_seconds, expected=200
        )
        for target in (self.bare, self.intake):
            await self.measured("warm-up", target, options.warmup_seconds)
        for number in range(1, options.rounds + 1):
            for target in (self.bare, self.intake):
                figures.rounds.append(
                    await self.measured(
                        f"round {number}", target, options.round_seconds, settle=True
                    )
                )
        if options.alone_seconds > 0:
            figures.alone = await self.intake_alone()
        if options.scale_out_seconds > 0:
            await self.scale_out()
        saturated = set(self.accepted)

        async with self.case_watch() as watcher:
            waited = await self.wait_for_cases(
                "cases of the saturation rounds",
                saturated,
                watcher,
                options.drain_timeout,
            )
            await asyncio.sleep(2)  # a second event for one application would come soon after
            figures.exactly_once.append(
                await self.tally("after saturation", saturated, watcher, waited)
            )
            await self.one_connection()
            # Light load means an idle pipeline: the one-connection phase's applications are
            # still crossing routing and approval, and would queue ahead of the first ones.
            await self.settle("light load")
            await self.light_load(watcher)
            raw = self.progress.add_task("raw Kafka round trips", total=options.raw_records)
            figures.raw_ms = [
                seconds * 1000
                for seconds in await raw_round_trip(
                    self.stack.settings.kafka_bootstrap_servers,
                    options.raw_records,
                    partitions=self.stack.settings.kafka_topic_partitions,
                    tick=lambda: self.progress.advance(raw),
                    security=client_security(self.stack.settings),
                )
            ]
            everything = set(self.accepted)
            waited = await self.wait_for_cases(
                "cases of the whole run",
                everything,
                watcher,
                min(60.0, options.drain_timeout),
            )
            await asyncio.sleep(1)
            figures.exactly_once.append(await self.tally("whole run", everything, watcher, waited))
        return figures

    async def intake_alone(self) -> Round:
        """A saturation round with routing, approval and delivery stopped (SIGSTOP), as if they
        ran on machines of their own: what intake itself can take. Kafka keeps what they have
        not read; they resume (SIGCONT) and catch up before the next round."""
        await self.settle("intake alone")
        paused = [
            service.process.popen.pid
            for name, service in self.stack.services.items()
            if name != "intake" and service.process.popen is not None
        ]
        for pid in paused:
            os.kill(pid, signal.SIGSTOP)
        try:
            measured = await self.measured(
                "downstream paused", self.intake, self.options.alone_seconds
            )
        finally:
            for pid in paused:
                os.kill(pid, signal.SIGCONT)
        return measured

    async def scale_out(self) -> None:
        task = self.progress.add_task("starting a second intake process", total=None)
        port, process = await start_second_intake(self.stack)
        self.progress.update(task, total=1, completed=1)
        if process.popen is not None:
            self.labels[process.popen.pid] = "intake #2"
        try:
            both = self.applications("intake ×2", [self.intake_port, port])
            await self.measured("warm-up", both, self.options.warmup_seconds)
            self.figures.scale_out = await self.measured(
                "scale-out", both, self.options.scale_out_seconds, settle=True
            )
        finally:
            # SIGTERM: it stops taking requests and its relay publishes what it accepted.
            await asyncio.to_thread(stop_processes, [process], 20.0)

    @contextlib.asynccontextmanager
    async def case_watch(self) -> AsyncIterator[CaseOpenedWatcher]:
        watcher = CaseOpenedWatcher(
            self.stack.settings.kafka_bootstrap_servers,
            from_beginning=True,
            security=client_security(self.stack.settings),
        )
        await watcher.start()
        try:
            yield watcher
        finally:
            await watcher.stop()

    async def cases_among(self, numbers: set[str]) -> int:
        """How many of these applications have a case in approval's database."""
        async with self.engine.connect() as connection:
            found = await connection.scalar(
                text("SELECT count(*) FROM cases WHERE application_no = ANY(:numbers)"),
                {"numbers": sorted(numbers)},
            )
        return int(found or 0)

    async def wait_for_cases(
        self,
        description: str,
        numbers: set[str],
        watcher: CaseOpenedWatcher,
        give_up_after: float,
    ) -> float:
        """Seconds waited until every number has a case row and a case.opened event, or
        `give_up_after` seconds passed."""
        task = self.progress.add_task(description, total=len(numbers))
        began = time.perf_counter()
        while True:
            cases = await self.cases_among(numbers)
            events = watcher.count_for(numbers)
            self.progress.update(task, completed=min(cases, events))
            waited = time.perf_counter() - began
            if (cases >= len(numbers) and events >= len(numbers)) or waited > give_up_after:
                self.progress.stop_task(task)
                return waited
            await asyncio.sleep(0.5)

    async def tally(
        self,
        scope: str,
        numbers: set[str],
        watcher: CaseOpenedWatcher,
        waited: float,
    ) -> Tally:
        cases = await self.cases_among(numbers)
        with_event = watcher.count_for(numbers)
        twice = sum(1 for n in numbers if len(watcher.opened.get(n, ())) > 1)
        # Of those, opened twice under two event ids (not the same event published again).
        distinct = sum(1 for n in numbers if len(watcher.event_ids.get(n, ())) > 1)
        return Tally(
            scope, len(numbers), cases, with_event, len(numbers) - cases, twice, distinct, waited
        )

    async def one_connection(self) -> None:
        count = self.options.sequential
        task = self.progress.add_task("one connection, bare and intake in turn", total=2 * count)
        results = await Sequential([self.bare, self.intake]).run(
            count,
            label="one connection",
            answer_within=self.options.request_timeout,
            keep_bodies=True,
            tick=lambda: self.progress.advance(task),
        )
        self.figures.sequential = results
        for result in results.values():
            self.keep(result)

    async def light_load(self, watcher: CaseOpenedWatcher) -> None:
        count = self.options.light
        task = self.progress.add_task("accepted → case open, light load", total=count)
        (result,) = (
            await Sequential([self.intake]).run(
                count,
                label="light load",
                answer_within=self.options.request_timeout,
                pause=self.options.light_pause,
                keep_bodies=True,
                tick=lambda: self.progress.advance(task),
            )
        ).values()
        self.keep(result)
        accepted: dict[str, datetime] = {}
        for body in result.bodies:
            answer = json.loads(body)
            accepted[answer["application_no"]] = datetime.fromisoformat(answer["accepted_at"])
        deadline = time.perf_counter() + 60
        while watcher.count_for(set(accepted)) < len(accepted) and time.perf_counter() < deadline:
            watcher.arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(watcher.arrived.wait(), timeout=1)
        self.figures.case_open_ms = [
            (min(watcher.opened[number]) - at).total_seconds() * 1000
            for number, at in accepted.items()
            if number in watcher.opened
        ]
        self.figures.case_open_missing = len(accepted) - len(self.figures.case_open_ms)
        # For the plot: each application's accepted → case open, at the time it was posted.
        opened = [
            Sample(sample.started, (min(watcher.opened[number]) - at).total_seconds(), 201)
            for sample, (number, at) in zip(result.ok, accepted.items(), strict=True)
            if number in watcher.opened
        ]
        self.figures.results.append(
            LoadResult("light load", "accepted → case open", 1, result.elapsed, opened)
        )


# ---------------------------------------------------------------------------------------------
# Printing


def _ms(value: float) -> str:
    return "—" if value != value else f"{value:.1f}"  # NaN when nothing was measured


def _ratio(numerator: float, denominator: float) -> str:
    return f"{numerator / denominator:.2f}" if denominator and numerator == numerator else "—"


def _load_row(name: str, result: LoadResult) -> list[str]:
    return [
        name,
        f"{result.rate:.0f}",
        _ms(result.latency_ms(0.5)),
        _ms(result.latency_ms(0.99)),
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


def _cpu_per_request(round_: Round, labels: Sequence[str]) -> float:
    served = len(round_.result.ok)
    share = sum(round_.cpu.get(label, 0.0) for label in labels) / 100
    return share * round_.result.elapsed / served * 1000 if served else float("nan")


def _new_connections(round_: Round, databases: dict[str, str]) -> str:
    """Connections the endpoint's process opened to its database during the round."""
    name = databases.get(round_.result.target.split(" ")[0], "")
    return str(round_.sessions[name]) if name in round_.sessions else "—"


def report(
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
            _ms(_cpu_per_request(round_, server)),
            _ms(_cpu_per_request(round_, ["postgresql"])),
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
        ratios = Table(title="intake ÷ bare, requests/s (target ≥ 0.5)", title_justify="left")
        for column in [f"round {n}" for n in range(1, len(intake) + 1)] + ["best", "median"]:
            ratios.add_column(column, justify="right")
        ratios.add_row(
            *[_ratio(i.result.rate, b.result.rate) for b, i in zip(bare, intake, strict=False)],
            _ratio(best_intake.result.rate, best_bare.result.rate),
            _ratio(median_intake, median_bare),
        )
        out.print(ratios)
        best = best_intake.result.rate / best_bare.result.rate if best_bare.result.rate else 0
        verdict = "[green]meets[/]" if best >= 0.5 else "[red]is below[/]"
        out.print(f"  best intake ÷ best bare = {best:.2f}: {verdict} the 0.5 target\n")
        if figures.alone is not None:
            alone = figures.alone.result.rate
            share = alone / best_bare.result.rate if best_bare.result.rate else 0
            verdict = "[green]meets[/]" if share >= 0.5 else "[red]is below[/]"
            out.print(
                f"  intake alone (routing, approval, delivery paused, as on machines of their "
                f"own): {alone:.0f} req/s, p50 {figures.alone.result.latency_ms(0.5):.1f} ms, "
                f"intake CPU {_ms(_cpu_per_request(figures.alone, ['intake']))} ms/req; "
                f"÷ best bare = {share:.2f}: {verdict} the 0.5 target\n"
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
                        (label, _cpu_per_request(best_intake, [label]))
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
                "applications/s through the whole pipeline\n"
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
        shares = ", ".join(
            f"{label} {share:.0f}%"
            for label, share in sorted(figures.scale_out.cpu.items(), key=lambda kv: -kv[1])
            if share >= 5 and label != cpu.MACHINE
        )
        out.print(
            f"  ×2 ÷ ×1: {_ratio(figures.scale_out.result.rate, best_intake.result.rate)}"
            f"   CPU during the ×2 round: {shares}\n"
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
                _ms(result.latency_ms(0.5)),
                _ms(result.latency_ms(0.99)),
                str(len(result.ok)),
                str(result.errors + result.timeouts),
            )
        bare_seq, intake_seq = figures.sequential.get("bare"), figures.sequential.get("intake")
        if bare_seq is not None and intake_seq is not None:
            table.add_section()
            table.add_row(
                "intake ÷ bare latency",
                _ratio(intake_seq.latency_ms(0.5), bare_seq.latency_ms(0.5)),
                _ratio(intake_seq.latency_ms(0.99), bare_seq.latency_ms(0.99)),
                "",
                "",
            )
        out.print(table)

    table = Table(
        title=f"Accepted → case open at light load ({options.light} applications, "
        f"{options.light_pause * 1000:.0f} ms apart) vs a raw Kafka round trip",
        title_justify="left",
    )
    for column in ("measure", "n", "p50 ms", "p99 ms", "max ms"):
        table.add_column(column, justify="left" if column == "measure" else "right")
    for name, values in (
        ("accepted_at → opened_at (case.opened)", figures.case_open_ms),
        ("raw send → receive (acks=all, idempotent)", figures.raw_ms),
    ):
        table.add_row(
            name,
            str(len(values)),
            _ms(percentile(values, 0.5)),
            _ms(percentile(values, 0.99)),
            _ms(max(values) if values else float("nan")),
        )
    out.print(table)
    if figures.case_open_missing:
        out.print(f"  {figures.case_open_missing} applications had no case.opened within 60 s")
    if figures.case_open_ms and figures.raw_ms:
        case_p99 = percentile(figures.case_open_ms, 0.99)
        bound = 3 * percentile(figures.raw_ms, 0.99) + 20
        verdict = "[green]holds[/]" if case_p99 <= bound else "[red]does not hold[/]"
        out.print(
            f"  target case-open p99 ≤ 3 × raw p99 + 20 ms: {case_p99:.1f} ms vs {bound:.1f} ms"
            f" → {verdict}"
        )


# ---------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> None:
    options = arguments(argv)
    # A fresh topic's first fetches meet a leader election; aiokafka retries them and logs
    # ERROR lines that are no failure. A real failure surfaces as an exception.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    console = Console(stderr=True)
    out = Console() if Console().is_terminal else Console(width=160)
    began = time.monotonic()
    with running_stack(console) as stack, bare_app(stack, console) as (port, process):
        progress = Progress(
            TextColumn("{task.description:<40}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        )
        bench = Bench(stack, port, process, options, progress)
        with progress:
            figures = asyncio.run(bench.run())
        stack.check_alive()
    out.print()
    report(figures, options, bench.databases, out)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    revision = subprocess.run(
        ["git", "-C", str(REPO_ROOT), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    path = latency_plot(
        figures.results,
        figures.origin,
        WORK_DIR / "bench" / f"latency-{stamp}.png",
        f"Request latency over one `make bench` run ({REPO_ROOT.name} at {revision or '?'} "
        f"and its working tree, {stamp})",
    )
    out.print(f"\nlatency plot: {path}")
    out.print(f"whole benchmark: {time.monotonic() - began:.0f} s")


if __name__ == "__main__":
    main()
