"""The consumer runner applies a fetched batch in one transaction, and still handles each event
exactly once: a poisoned record in the middle, the same event twice in one batch, and a crash
mid-batch, on the real broker and database. Each handled event's effect is one outbox row (it
is rolled back with its transaction, like any effect)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, date, datetime
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer, TopicPartition
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy import event, func, select
from sqlalchemy.engine import Connection

from shared.db import Database
from shared.db.messaging_tables import inbox, outbox
from shared.messaging import events, topics
from shared.messaging.consumer import ConsumerRunner, EventContext, PermanentError
from shared.messaging.envelope import Envelope
from shared.messaging.kafka import client_security, ensure_topics
from shared.messaging.outbox import Outbox
from shared.settings import Settings
from shared.telemetry import setup_telemetry
from tests.harness import CountingEvent, eventually, header, messaging_database, read_topic
from tooling.infra import Infrastructure

pytestmark = pytest.mark.integration

DATABASE = "tongban_test_consumer_batches"
# A W3C trace context the producer of every record of these tests was in.
TRACE_ID = uuid.uuid4().hex
TRACEPARENT = f"00-{TRACE_ID}-{uuid.uuid4().hex[:16]}-01"


class Fatal(BaseException):
    """What no retry or dead letter handles: the runner's task dies of it."""


@pytest.fixture
async def db(infrastructure: Infrastructure) -> AsyncIterator[Database]:
    async with messaging_database(infrastructure.database_url, DATABASE, "approval") as database:
        yield database


@pytest.fixture
async def topic(kafka_admin: Settings) -> str:
    name = f"tongban.test.batches.{uuid.uuid4().hex[:8]}"
    await ensure_topics(
        kafka_admin.kafka_bootstrap_servers,
        [name, topics.dead_letter(name)],
        partitions=1,
        security=client_security(kafka_admin),
    )
    return name


def case_opened(application_no: str) -> Envelope:
    payload = events.CaseOpened(
        application_no=application_no,
        locality="340100",
        deadline=date.today(),
        opened_at=datetime.now(UTC),
    )
    return Envelope.new(payload, source="/tests")


def new_application_no() -> str:
    return f"TBTEST{uuid.uuid4().hex[:12].upper()}"


async def put(kafka: AIOKafkaProducer, topic: str, envelopes: Sequence[Envelope]) -> None:
    """Publish all first (the runner starts after): its first fetch gets them together."""
    for envelope in envelopes:
        key, value, headers = envelope.to_kafka()
        headers = [*headers, ("traceparent", TRACEPARENT.encode())]
        await kafka.send_and_wait(topic, value=value, key=key, headers=headers, partition=0)


class Commits:
    """Counts the database transactions that committed on `db`."""

    def __init__(self, db: Database) -> None:
        self.count = 0
        event.listen(db.engine.sync_engine, "commit", self._committed)

    def _committed(self, _: Connection) -> None:
        self.count += 1


async def effects(db: Database, application_no: str) -> int:
    """How many outbox rows the handlers left for `application_no` (read on a connection of
    its own: the runner's database counts its commits)."""
    reader = Database(db.url, pool_size=1)
    try:
        async with reader.transaction() as session:
            count = await session.scalar(
                select(func.count()).select_from(outbox).where(outbox.c.subject == application_no)
            )
    finally:
        await reader.dispose()
    return int(count or 0)


def runner_for(
    name: str,
    topic: str,
    handler: Any,
    *,
    db: Database,
    kafka: AIOKafkaProducer,
    kafka_admin: Settings,
    spans: InMemorySpanExporter,
    wake: asyncio.Event | None = None,
) -> ConsumerRunner:
    return ConsumerRunner(
        name=name,
        topics=[topic],
        handlers={events.CaseOpened.event_type: handler},
        db=db,
        outbox=Outbox("/tests", committed=wake),
        producer=kafka,
        telemetry=setup_telemetry("consumer-batches-test", exporter=spans),
        bootstrap_servers=kafka_admin.kafka_bootstrap_servers,
        security=client_security(kafka_admin),
        max_attempts=3,
        backoff_seconds=0.01,
    )


async def run_until(runner: ConsumerRunner, done: Any) -> None:
    """Run `runner` until `done()` holds, then stop it (offsets committed)."""
    stopping = asyncio.Event()
    await runner.start()
    task = asyncio.create_task(runner.run(stopping))
    try:
        await eventually(done)
    finally:
        stopping.set()
        await task
        await runner.stop()


async def test_a_poisoned_record_mid_batch_is_dead_lettered_and_the_others_applied_once(
    db: Database,
    kafka: AIOKafkaProducer,
    kafka_admin: Settings,
    topic: str,
    spans: InMemorySpanExporter,
) -> None:
    numbers = [new_application_no() for _ in range(9)]
    poisoned = numbers[4]
    envelopes = [case_opened(number) for number in numbers]
    await put(kafka, topic, envelopes)
    calls: dict[str, int] = {}

    async def handler(event: events.CaseOpened, ctx: EventContext) -> None:
        calls[event.application_no] = calls.get(event.application_no, 0) + 1
        await ctx.publish(event)
        if event.application_no == poisoned:
            raise PermanentError("this case contradicts what we hold")

    wake = CountingEvent()
    name = f"test-batches-{uuid.uuid4().hex[:8]}"
    runner = runner_for(
        name, topic, handler, db=db, kafka=kafka, kafka_admin=kafka_admin, spans=spans, wake=wake
    )
    commits = Commits(db)

    async def all_handled() -> bool:
        return await effects(db, numbers[-1]) == 1

    await run_until(runner, all_handled)

    # Each good event's effect once; the poisoned one's (written before it raised) rolled back.
    assert {number: await effects(db, number) for number in numbers} == {
        number: 0 if number == poisoned else 1 for number in numbers
    }
    assert calls[poisoned] == 1  # a refusal is not retried: its batch attempt was its one try
    # Batches, not a transaction per record: the four before it (redone as a batch), the
    # poisoned one alone (rolled back, nothing committed), the four after it.
    assert commits.count < len(numbers) - 1
    # The relay was woken by each commit that wrote outbox rows, once per transaction.
    assert 1 <= wake.sets == commits.count
    dead = await read_topic(
        kafka_admin, topics.dead_letter(topic), until=lambda records: len(records) >= 1
    )
    assert [header(letter, "ce_id") for letter in dead] == [envelopes[4].id]
    assert header(dead[0], "dlq.error.type") == "PermanentError"
    assert header(dead[0], "dlq.attempts") == "1"
    # One processing span per event, each in its producer's trace, with its outcome.
    ours = [
        span
        for span in spans.get_finished_spans()
        if (span.attributes or {}).get("messaging.consumer.group.name") == name
        and "cloudevents.event_type" in (span.attributes or {})
    ]
    assert sorted(str((s.attributes or {})["messaging.kafka.offset"]) for s in ours) == sorted(
        str(offset) for offset in range(len(numbers))
    )
    assert {format(s.context.trace_id, "032x") for s in ours} == {TRACE_ID}
    outcomes = [(s.attributes or {}).get("tongban.outcome") for s in ours]
    assert outcomes.count("processed") == len(numbers) - 1


async def test_the_same_event_twice_in_one_batch_has_one_effect(
    db: Database,
    kafka: AIOKafkaProducer,
    kafka_admin: Settings,
    topic: str,
    spans: InMemorySpanExporter,
) -> None:
    twice = case_opened(new_application_no())
    before, after = case_opened(new_application_no()), case_opened(new_application_no())
    await put(kafka, topic, [before, twice, twice, after])

    async def handler(event: events.CaseOpened, ctx: EventContext) -> None:
        await ctx.publish(event)

    runner = runner_for(
        f"test-batches-{uuid.uuid4().hex[:8]}",
        topic,
        handler,
        db=db,
        kafka=kafka,
        kafka_admin=kafka_admin,
        spans=spans,
    )
    commits = Commits(db)

    async def all_handled() -> bool:
        return await effects(db, after.subject) == 1

    await run_until(runner, all_handled)

    assert await effects(db, twice.subject) == 1
    assert await effects(db, before.subject) == 1
    assert commits.count < 4  # the copies shared a transaction, and still made one effect
    async with db.transaction() as session:  # after the count of commits
        claimed = await session.scalar(
            select(func.count()).select_from(inbox).where(inbox.c.event_id == twice.id)
        )
    assert claimed == 1


async def test_a_crash_mid_batch_commits_nothing_of_it_and_the_next_run_applies_each_once(
    db: Database,
    kafka: AIOKafkaProducer,
    kafka_admin: Settings,
    topic: str,
    spans: InMemorySpanExporter,
) -> None:
    numbers = [new_application_no() for _ in range(6)]
    await put(kafka, topic, [case_opened(number) for number in numbers])
    crashing = True

    async def handler(event: events.CaseOpened, ctx: EventContext) -> None:
        await ctx.publish(event)
        if crashing and event.application_no == numbers[3]:
            raise Fatal("the process dies mid-batch")

    name = f"test-batches-{uuid.uuid4().hex[:8]}"
    first = runner_for(
        name, topic, handler, db=db, kafka=kafka, kafka_admin=kafka_admin, spans=spans
    )
    await first.start()
    try:
        with pytest.raises(Fatal):
            await asyncio.wait_for(first.run(asyncio.Event()), timeout=60)
        # Nothing of the batch committed: no effect, no offset.
        assert [await effects(db, number) for number in numbers] == [0] * len(numbers)
        assert await first.consumer.committed(TopicPartition(topic, 0)) is None
    finally:
        await first.stop()

    crashing = False
    again = runner_for(
        name, topic, handler, db=db, kafka=kafka, kafka_admin=kafka_admin, spans=spans
    )

    async def all_handled() -> bool:
        return await effects(db, numbers[-1]) == 1

    await run_until(again, all_handled)
    assert [await effects(db, number) for number in numbers] == [1] * len(numbers)


async def test_a_running_consumer_commits_what_it_handled_once_records_stop_coming(
    db: Database,
    kafka: AIOKafkaProducer,
    kafka_admin: Settings,
    topic: str,
    spans: InMemorySpanExporter,
) -> None:
    # Offsets are committed every half second while records keep coming; when they stop, the
    # group's lag (what operators see in the console) still reaches zero without a restart.
    numbers = [new_application_no() for _ in range(3)]
    await put(kafka, topic, [case_opened(number) for number in numbers])
    handled: list[str] = []

    async def handler(event: events.CaseOpened, ctx: EventContext) -> None:
        handled.append(event.application_no)

    name = f"test-batches-{uuid.uuid4().hex[:8]}"
    runner = runner_for(
        name, topic, handler, db=db, kafka=kafka, kafka_admin=kafka_admin, spans=spans
    )
    partition = TopicPartition(topic, 0)

    async def all_committed() -> bool:
        return await runner.consumer.committed(partition) == len(numbers)

    stopping = asyncio.Event()
    await runner.start()
    task = asyncio.create_task(runner.run(stopping))
    try:
        await eventually(all_committed)
        assert not task.done()  # committed while running, not on the way out
        assert handled == numbers
    finally:
        stopping.set()
        await task
        await runner.stop()
