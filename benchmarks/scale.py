"""`make bench BENCH_ARGS=--scale`: each service's rate with two instances over one (×2/×1), on
`make run SCALE=2`'s stack (tooling/scale.py: the second instances in the same consumer groups).

intake: applications accepted per second at saturation (32 connections), posted to the first
intake alone, then spread over both; routing, approval and delivery paused meanwhile (SIGSTOP),
so intake has the cores to itself.

routing, approval, delivery: the rate at which the service works off a backlog, with its
second instance stopped (×1), then running (×2, once the group has both members). The
service's instances are paused (SIGSTOP) while windows post a backlog and the services upstream
turn it into the service's input; then resumed, and its consumer's inbox rows counted every
tenth of a second until every application of the backlog is in: the rate between a tenth and
nine tenths of the backlog, so neither the resume nor the tail is on the clock. What each
consumer records, one row per application: routing's `tongban.routing` (ApplicationAccepted →
placed with its locality), approval's `tongban.approval` (ApplicationRouted → a case opened),
delivery's `tongban.delivery.routing` (Routed → where its certificate will be printed).

The backlog's applicants are from the province's counties in turn, so approval's requests
spread over many per-locality topics (one partition each: the two approvals share them topic
by topic) and intake's events over the four partitions of tongban.intake.events.

The stack's consumers get a session timeout of two minutes here (KAFKA_SESSION_TIMEOUT_MS), so a
paused instance keeps its partitions: no rebalance on the clock.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from rich.console import Console
from rich.table import Table
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from benchmarks.loadgen import Target, post_requests, saturate
from benchmarks.processes import HOST, paused
from shared.auth import mint_token
from shared.messaging.kafka import client_security, make_admin
from shared.settings import SERVICES
from tooling.infra import stop_processes
from tooling.journey import Journey, sample_applicant
from tooling.scale import counties, instance_name, spread_application, wait_ready
from tooling.stack import RunningStack

DOWNSTREAM: tuple[str, ...] = ("routing", "approval", "delivery")
# The consumer (and its group) whose inbox rows count a service's work, one per application.
WORK = {
    "routing": "tongban.routing",
    "approval": "tongban.approval",
    "delivery": "tongban.delivery.routing",
}
SESSION_TIMEOUT_MS = 120_000
SAMPLE_SECONDS = 0.1


@dataclass
class ScaleRow:
    service: str
    what: str
    ones: list[float]  # each ×1 round's rate
    twos: list[float]
    load: float  # the machine's load average (1 min) over the service's rounds

    @property
    def one(self) -> float:
        return statistics.median(self.ones)

    @property
    def two(self) -> float:
        return statistics.median(self.twos)

    @property
    def ratio(self) -> float:
        return self.two / self.one if self.one > 0 else float("nan")


def alternating(rounds: int) -> list[int]:
    """×1, ×2, ×2, ×1, ×1, ×2...: each configuration as often early as late, so a machine
    that gets busier or quieter during the run favours neither."""
    order: list[int] = []
    for number in range(rounds):
        order += [1, 2] if number % 2 == 0 else [2, 1]
    return order


@dataclass
class ScaleOptions:
    intake_seconds: float = 10.0
    backlog_seconds: float = 6.0
    connections: int = 32
    drain_timeout: float = 120.0
    rounds: int = 3  # of each configuration, alternating; the median is reported
    catch_up_timeout: float = 900.0


QUICK = ScaleOptions(intake_seconds=4.0, backlog_seconds=3.0, drain_timeout=90.0, rounds=2)


def drain_rate(samples: Sequence[tuple[float, int]], total: int) -> float:
    """Applications per second between a tenth and nine tenths of `total` done, from samples
    of (time, done so far); the first sample at or past each mark."""
    if total < 10:
        return float("nan")
    low, high = total // 10, total - total // 10
    start = next((t, n) for t, n in samples if n >= low)
    end = next((t, n) for t, n in samples if n >= high)
    return (end[1] - start[1]) / (end[0] - start[0]) if end[0] > start[0] else float("nan")


class ScaleBench:
    def __init__(self, stack: RunningStack, options: ScaleOptions, console: Console) -> None:
        self.stack, self.options, self.console = stack, options, console
        settings = stack.settings
        self.engines: dict[str, AsyncEngine] = {
            service: create_async_engine(settings.service_database_url(service), pool_size=1)
            for service in SERVICES
        }
        token = mint_token(settings, role="window_clerk", locality="341200", window_id="W341200-01")
        codes = counties()
        bodies = [
            json.dumps(
                spread_application(sample_applicant(codes[n % len(codes)], sequence=n)),
                ensure_ascii=False,
            ).encode()
            for n in range(1, 1000)
        ]
        self.ports = [stack.services["intake"].port, stack.instances["intake-2"].port]
        self.request = post_requests(
            "/v1/applications", HOST, self.ports[0], bodies, {"Authorization": f"Bearer {token}"}
        )
        self.accepted = 0
        self.baselines: dict[str, int] = {}

    def target(self, instances: int) -> Target:
        return Target(f"intake ×{instances}", HOST, self.ports[:instances], self.request)

    def pids(self, service: str) -> list[int]:
        running = [self.stack.services[service], self.stack.instances.get(f"{service}-2")]
        return [
            r.process.popen.pid
            for r in running
            if r is not None and r.process.popen is not None and r.process.alive()
        ]

    async def scalar(self, service: str, query: str, **params: object) -> int:
        async with self.engines[service].connect() as connection:
            return int(await connection.scalar(text(query), params) or 0)

    async def done(self, service: str) -> int:
        return await self.scalar(
            service, "SELECT count(*) FROM inbox WHERE consumer = :c", c=WORK[service]
        )

    async def unsent(self, service: str) -> int:
        return await self.scalar(
            service, "SELECT count(*) FROM outbox WHERE sent_at IS NULL AND parked_at IS NULL"
        )

    async def post(self, instances: int, seconds: float) -> int:
        result = await saturate(
            self.target(instances),
            label="scale",
            connections=self.options.connections,
            duration=seconds,
        )
        self.accepted += len(result.ok)
        return len(result.ok)

    async def until(
        self, check: Callable[[], Awaitable[bool]], what: str, limit: float | None = None
    ) -> None:
        limit = limit or self.options.drain_timeout
        deadline = time.monotonic() + limit
        while not await check():
            if time.monotonic() > deadline:
                raise TimeoutError(f"scale bench: {what} within {limit:.0f} s")
            await asyncio.sleep(0.2)

    async def through(self, services: Sequence[str], marks: dict[str, int], count: int) -> bool:
        """Each of `services` has done `count` more since `marks`, and intake's and their
        outboxes hold nothing unsent."""
        for service in services:
            if await self.done(service) < marks[service] + count or await self.unsent(service):
                return False
        return not await self.unsent("intake")

    async def quiet(self) -> None:
        """Until every application accepted so far is through routing, approval and delivery
        and nothing is left in an outbox: the next measurement pays for no earlier backlog."""
        await self.until(
            lambda: self.through(DOWNSTREAM, self.baselines, self.accepted),
            "the pipeline did not catch up",
            # The intake rounds leave their applications to routing, approval and delivery.
            self.options.catch_up_timeout,
        )

    async def instances(self, service: str, count: int) -> None:
        """Run `count` (1 or 2) instances of `service`; with two, wait until its group has both."""
        second = self.stack.instances[instance_name(service, 2)]
        if count == 1 and second.process.alive():
            await asyncio.to_thread(stop_processes, [second.process], 20.0)
        if count == 2 and not second.process.alive():
            second.process.restart()
            await wait_ready(second)
        if service in WORK:
            await self.until(lambda: self.members(WORK[service], count), "the group never settled")

    async def members(self, group: str, count: int) -> bool:
        settings = self.stack.settings
        admin = make_admin(settings.kafka_bootstrap_servers, security=client_security(settings))
        await admin.start()
        try:
            (described,) = await admin.describe_consumer_groups([group])
        finally:
            await admin.close()
        (found,) = described.groups
        _error, _group, state, _protocol_type, _protocol, members, *_ = found
        return bool(state == "Stable" and len(members) == count)

    async def backlog_drain(self, service: str) -> tuple[float, int]:
        """Pause the service (and those after it), post a backlog, wait until the services
        before it have handed it all over, resume it alone: the rate it works the backlog off
        at, with nothing else of the pipeline busy."""
        await self.quiet()
        later = list(DOWNSTREAM[DOWNSTREAM.index(service) + 1 :])
        ahead = list(DOWNSTREAM[: DOWNSTREAM.index(service)])
        marks = {s: await self.done(s) for s in DOWNSTREAM}
        samples: list[tuple[float, int]] = []
        with paused([pid for s in later for pid in self.pids(s)]):
            with paused(self.pids(service)):
                posted = await self.post(2, self.options.backlog_seconds)
                await self.until(lambda: self.through(ahead, marks, posted), "upstream lagged")
                started = time.monotonic()
            while True:
                done = await self.done(service) - marks[service]
                samples.append((time.monotonic() - started, done))
                if done >= posted or samples[-1][0] > self.options.drain_timeout:
                    break
                await asyncio.sleep(SAMPLE_SECONDS)
        return drain_rate(samples, posted), posted

    async def run(self) -> list[ScaleRow]:
        await Journey(self.stack.settings, self.stack.urls).upload_sample_scans()
        self.baselines = {s: await self.done(s) for s in DOWNSTREAM}
        rows = []
        order = alternating(self.options.rounds)
        await self.post(2, 2.0)  # warm-up: connection pools, caches
        await self.quiet()
        seconds = self.options.intake_seconds
        rates: dict[int, list[float]] = {1: [], 2: []}
        loads = [os.getloadavg()[0]]
        self.console.print(f"intake ×1/×2 ({len(order)} rounds of {seconds:.0f} s)…")
        with paused([p for s in DOWNSTREAM for p in self.pids(s)]):
            for count in order:
                rates[count].append(await self.post(count, seconds) / seconds)
                loads.append(os.getloadavg()[0])
        rows.append(ScaleRow("intake", "accepted/s", rates[1], rates[2], statistics.mean(loads)))
        for service in DOWNSTREAM:
            rates, loads = {1: [], 2: []}, []
            for count in order:
                self.console.print(f"{service} ×{count}: a backlog, then its drain…")
                await self.instances(service, count)
                rate, _posted = await self.backlog_drain(service)
                rates[count].append(rate)
                loads.append(os.getloadavg()[0])
            rows.append(ScaleRow(service, "drained/s", rates[1], rates[2], statistics.mean(loads)))
        await self.instances("routing", 2)  # everything back as make run SCALE=2 has it
        await self.instances("approval", 2)
        await self.instances("delivery", 2)
        await self.quiet()
        for engine in self.engines.values():
            await engine.dispose()
        return rows


def report(rows: Sequence[ScaleRow], out: Console) -> None:
    table = Table(title="Each service with two instances over one (make run SCALE=2)")
    columns = ("service", "measure", "×1", "×2", "×2/×1", "rounds ×1 | ×2", "load avg")
    for column in columns:
        table.add_column(column, justify="left" if column in ("service", "measure") else "right")

    def rounds(values: Sequence[float]) -> str:
        return " ".join(f"{value:.0f}" for value in values)

    for row in rows:
        table.add_row(
            row.service,
            row.what,
            f"{row.one:.1f}",
            f"{row.two:.1f}",
            f"{row.ratio:.2f}",
            f"{rounds(row.ones)} | {rounds(row.twos)}",
            f"{row.load:.1f}",
        )
    out.print(table)
    out.print(
        f"{os.cpu_count() or 1} cores, shared by every process of the stack, Kafka, PostgreSQL "
        "and whatever else runs (the load average beside each service): a second instance adds "
        "a consumer and a Python process, not a core. Medians of the rounds."
    )
