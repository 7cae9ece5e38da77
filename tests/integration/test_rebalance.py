"""A rebalance in the middle of load loses and repeats nothing (issue 23, scale out).

Windows post applications at a steady pace, for applicants of many localities (so approval's
requests spread over many of its per-locality topics, and intake's events over the four
partitions of tongban.intake.events). Meanwhile second instances of routing and approval join
their consumer groups (the partitions split between two members), the first approval leaves
and comes back, the second routing leaves: five rebalances while records are in flight. Every
accepted application then has exactly one case in approval's database and exactly one
gov.tongban.case.opened.v1 event on tongban.approval.events, as `make run SCALE=2` and a
Deployment's scaling need.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable

import httpx
import pytest
from aiokafka import ConsumerRecord
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from services.approval.main import create_app as create_approval
from services.routing.main import create_app as create_routing
from shared.messaging import topics
from shared.messaging.events import CaseOpened
from shared.settings import Settings
from tests.conftest import APPROVAL_B_LOCALITIES
from tests.harness import RunningService, Stack, eventually, header, read_topic, serve
from tooling.infra import Infrastructure
from tooling.journey import sample_applicant
from tooling.scale import counties, spread_application

pytestmark = pytest.mark.integration

APPLICATIONS = 60
PER_SECOND = 5.0


class Windows:
    """Windows posting at a steady pace, each application retried under its own
    Idempotency-Key until intake answers it (as a window terminal does)."""

    def __init__(self, stack: Stack) -> None:
        self.journey = stack.journey()
        # Counties served by the session's first approval (not approval_b's).
        self.codes = counties(tuple(code[:4] for code in APPROVAL_B_LOCALITIES))
        self.accepted: list[str] = []
        self.posted = 0
        self.ticked = asyncio.Event()  # set at each post

    async def one(self, n: int) -> None:
        applicant = sample_applicant(self.codes[n % len(self.codes)], sequence=300 + n)
        body = spread_application(applicant)
        key = str(uuid.uuid4())
        last = "no answer"
        for _attempt in range(20):
            try:
                response = await self.journey.submit(body, idempotency_key=key)
            except (OSError, httpx.TransportError) as error:  # no answer: the same key again
                last = repr(error)
                await asyncio.sleep(0.5)
                continue
            if response.status_code == 201:
                self.accepted.append(response.json()["application_no"])
                return
            last = f"{response.status_code} {response.text[:200]}"
            await asyncio.sleep(0.5)
        raise AssertionError(f"application {n} was never accepted ({last})")

    async def run(self) -> None:
        posts = []
        for n in range(APPLICATIONS):
            posts.append(asyncio.create_task(self.one(n)))
            self.posted += 1
            self.ticked.set()
            await asyncio.sleep(1 / PER_SECOND)
        await asyncio.gather(*posts)


async def when(windows: Windows, posted: int, then: Callable[[], Awaitable[object]]) -> None:
    """Once the windows have posted `posted` applications, `then`, while they go on."""
    while windows.posted < posted:
        windows.ticked.clear()
        await windows.ticked.wait()
    await then()


async def cases_per_application(stack: Stack, numbers: list[str]) -> Counter[str]:
    engine = create_async_engine(stack.settings.service_database_url("approval"))
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(
                text("SELECT application_no FROM cases WHERE application_no = ANY(:numbers)"),
                {"numbers": numbers},
            )
            return Counter(str(number) for (number,) in rows)
    finally:
        await engine.dispose()


async def test_consumers_joining_and_leaving_mid_load_open_each_case_exactly_once(
    stack: Stack, infrastructure: Infrastructure, spans: InMemorySpanExporter
) -> None:
    def settings_of(service: str) -> Settings:
        # The session's own settings: the same databases, principals and consumer groups.
        return stack.settings.model_copy(update=infrastructure.kafka_settings(service))

    seconds: dict[str, RunningService] = {}

    async def second_instances_join() -> None:
        seconds["routing"] = await serve(
            "routing-2", lambda _: create_routing(settings_of("routing"), spans)
        )
        seconds["approval"] = await serve(
            "approval-2", lambda _: create_approval(settings_of("approval"), spans)
        )

    async def second_routing_leaves() -> None:
        await seconds.pop("routing").stop()

    windows = Windows(stack)
    load = asyncio.create_task(windows.run())
    try:
        # A fifth of the load with one instance each; then a second routing and a second
        # approval join; the first approval leaves and comes back; the second routing leaves.
        fifth = APPLICATIONS // 5
        await when(windows, fifth, second_instances_join)
        await when(windows, 2 * fifth, lambda: stack.stop_service("approval"))
        await when(windows, 3 * fifth, lambda: stack.start("approval"))
        await when(windows, 4 * fifth, second_routing_leaves)
        await load
        accepted = list(windows.accepted)
        assert len(accepted) == APPLICATIONS == len(set(accepted))
        # None lost: each has its case (the second approval still in the group).
        await eventually(lambda: all_opened(stack, accepted), within=120)
    finally:
        load.cancel()
        if "approval" not in stack.services:
            await stack.start("approval")
        for running in seconds.values():
            await running.stop()

    # None twice: one case each in approval's database...
    cases = await cases_per_application(stack, accepted)
    assert set(cases) == set(accepted)
    assert set(cases.values()) == {1}, {n: c for n, c in cases.items() if c > 1}
    # ... and one case.opened event each on the topic (one event id; the relay publishing a
    # row again after a crash would repeat its id, which consumers' inboxes drop).
    await asyncio.sleep(2)  # a second event of one application would come soon after
    wanted = set(accepted)
    records = await read_topic(
        stack.settings,
        topics.APPROVAL_EVENTS,
        until=lambda rs: set(opened_ids(rs, wanted)) >= wanted,
        within=60,
    )
    ids = opened_ids(records, wanted)
    assert set(ids) == wanted
    assert all(len(event_ids) == 1 for event_ids in ids.values()), {
        n: e for n, e in ids.items() if len(e) > 1
    }


def opened_ids(
    records: list[ConsumerRecord[bytes, bytes]], wanted: set[str]
) -> dict[str, set[str]]:
    """Application number → the ids of the case.opened events about it among `records`."""
    ids: dict[str, set[str]] = {}
    for record in records:
        subject = header(record, "ce_subject") or ""
        if subject in wanted and header(record, "ce_type") == CaseOpened.event_type:
            ids.setdefault(subject, set()).add(header(record, "ce_id") or "")
    return ids


async def all_opened(stack: Stack, numbers: list[str]) -> bool:
    return len(await cases_per_application(stack, numbers)) == len(numbers)
