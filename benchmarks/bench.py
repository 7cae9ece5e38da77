"""The benchmark's measuring instruments on one running stack: saturation rounds with the CPU
each process used, waits for the pipeline to catch up, counts of cases in approval's
database. benchmarks/phases.py plays them in order."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Awaitable, Sequence
from datetime import datetime
from typing import TypeVar

from rich.progress import Progress
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from benchmarks import cpu
from benchmarks.figures import Figures, Round, Tally
from benchmarks.kafka_probe import CaseOpenedWatcher
from benchmarks.loadgen import LoadResult, Target, post_requests, saturate
from benchmarks.processes import BARE_DATABASE, HOST
from shared.auth import mint_token
from shared.messaging.kafka import client_security
from tooling.infra import ManagedProcess
from tooling.journey import household_application, sample_applicant
from tooling.stack import RunningStack

T = TypeVar("T")

# The four services together use less CPU than this (% of one core) when idle: outbox relays
# polling, consumers waiting.
QUIET_SERVICES = 25.0


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
        self.accepted_at: dict[str, datetime] = {}  # intake's accepted_at of each of them
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

    def pids(self, names: Sequence[str]) -> dict[str, int]:
        """Service name → pid of the stack's processes of these services."""
        return {
            name: service.process.popen.pid
            for name, service in self.stack.services.items()
            if name in names and service.process.popen is not None
        }

    async def close(self) -> None:
        await self.engine.dispose()
        await self.server.dispose()

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
                answer = json.loads(body)
                self.accepted.add(answer["application_no"])
                self.accepted_at[answer["application_no"]] = datetime.fromisoformat(
                    answer["accepted_at"]
                )

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

    async def settle(
        self, before: str, *, limit: float | None = None, quiet_for: float = 0.5
    ) -> float:
        """Seconds waited (at most `limit`, else --settle-seconds) until approval has a case
        for every application accepted so far and the services have been idle again for
        `quiet_for` seconds (intake also records the progress events that follow, routing's
        ledger every event): one round's downstream work stays out of the next."""
        numbers = set(self.accepted)
        limit = self.options.settle_seconds if limit is None else limit
        if not numbers or limit <= 0:
            return 0.0
        task = self.progress.add_task(f"  pipeline catching up before {before}", total=None)
        began = time.perf_counter()
        services = list(self.stack.services)
        # Snapshots back to the latest one at least `quiet_for` old.
        history = [cpu.snapshot(began, self.labels)]
        while True:
            await asyncio.sleep(0.5)
            cases = await self.cases_among(numbers)
            now = cpu.snapshot(time.perf_counter(), self.labels)
            history.append(now)
            while len(history) > 2 and now.wall - history[1].wall >= quiet_for:
                history.pop(0)
            busy = sum(cpu.usage(history[0], now).get(name, 0.0) for name in services)
            self.progress.update(task, total=len(numbers), completed=cases)
            waited = time.perf_counter() - began
            long_enough = now.wall - history[0].wall >= quiet_for
            quiet = cases >= len(numbers) and long_enough and busy < QUIET_SERVICES
            if quiet or waited > limit:
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

    async def opened_at(self, numbers: set[str]) -> dict[str, datetime]:
        """When the case of each of these applications opened, in approval's database."""
        async with self.engine.connect() as connection:
            rows = await connection.execute(
                text(
                    "SELECT application_no, opened_at FROM cases "
                    "WHERE application_no = ANY(:numbers)"
                ),
                {"numbers": sorted(numbers)},
            )
            return {str(number): opened for number, opened in rows}

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
