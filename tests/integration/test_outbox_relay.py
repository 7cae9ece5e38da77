"""Events move on commit, and everything stays bounded: the relay is woken by commits (never by
a rollback), a record Kafka refuses is parked instead of holding back the rest, pruning never
touches an unpublished event, and consumers commit their offsets at most once per batch. All
against the real broker and database."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any, cast

import pytest
from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaConnectionError, KafkaTimeoutError
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy import insert, select

from shared.db import Database
from shared.db.messaging_tables import inbox, outbox
from shared.messaging import events, topics
from shared.messaging.consumer import ConsumerRunner, EventContext
from shared.messaging.envelope import Envelope
from shared.messaging.kafka import client_security, ensure_topics
from shared.messaging.outbox import Outbox
from shared.messaging.relay import OutboxRelay, OutboxStats, PruneCounts, prune
from shared.settings import Settings
from shared.telemetry import Telemetry, setup_telemetry
from tests.harness import CountingEvent, header, messaging_database, read_topic
from tooling.infra import Infrastructure

pytestmark = pytest.mark.integration

DATABASE = "tongban_test_outbox"


class Abandoned(Exception):
    """Raised inside a transaction to roll it back."""


@pytest.fixture
async def db(infrastructure: Infrastructure) -> AsyncIterator[Database]:
    async with messaging_database(infrastructure.database_url, DATABASE) as database:
        yield database


@pytest.fixture
def telemetry(spans: InMemorySpanExporter) -> Telemetry:
    return setup_telemetry("outbox-relay-test", exporter=spans)


async def fresh_topic(kafka_admin: Settings) -> str:
    topic = f"tongban.test.outbox.{uuid.uuid4().hex[:8]}"
    await ensure_topics(
        kafka_admin.kafka_bootstrap_servers,
        [topic, topics.dead_letter(topic)],
        partitions=1,
        security=client_security(kafka_admin),
    )
    return topic


def new_application_no() -> str:
    return f"TBTEST{uuid.uuid4().hex[:12].upper()}"


def case_opened(application_no: str | None = None) -> events.CaseOpened:
    return events.CaseOpened(
        application_no=application_no or new_application_no(),
        locality="340100",
        deadline=date.today(),
        opened_at=datetime.now(UTC),
    )


def outbox_row(topic: str, **columns: Any) -> dict[str, Any]:
    """The values of an outbox row written without Outbox.add (to set any column)."""
    event = case_opened()
    return {
        "event_id": str(uuid.uuid4()),
        "topic": topic,
        "key": event.application_no,
        "event_type": event.event_type,
        "source": "/tests",
        "subject": event.application_no,
        "occurred_at": datetime.now(UTC),
        "payload": event.model_dump(mode="json"),
    } | columns


async def insert_rows(db: Database, table: Any, rows: list[dict[str, Any]]) -> None:
    async with db.transaction() as session:
        for row in rows:
            await session.execute(insert(table).values(**row))


class OnTopic(Outbox):
    """An outbox that writes every event to one fresh topic of the test's own, instead of the
    topic its channel says: the relay's mechanics are tested apart from other tests' records."""

    def __init__(self, topic: str, *, committed: asyncio.Event | None = None) -> None:
        super().__init__("/tests", committed=committed)
        self.topic = topic

    def topic_of(self, payload: events.EventPayload) -> str:
        return self.topic


async def test_a_commit_wakes_the_relay_at_once_and_a_rollback_wakes_and_publishes_nothing(
    db: Database, kafka: AIOKafkaProducer, telemetry: Telemetry, kafka_admin: Settings
) -> None:
    topic = await fresh_topic(kafka_admin)
    committed = CountingEvent()
    writer = OnTopic(topic, committed=committed)
    # Polling every 10 minutes: only the wake-up on commit can publish within the test.
    relay = OutboxRelay(db, kafka, telemetry, wake=writer.committed, poll_seconds=600)
    stopping = asyncio.Event()
    running = asyncio.create_task(relay.run(stopping))
    try:
        await asyncio.sleep(1)  # its first round found nothing: the relay now waits
        rolled_back = case_opened()
        with pytest.raises(Abandoned):
            async with db.transaction() as session:
                await writer.add(session, rolled_back)
                raise Abandoned
        assert committed.sets == 0

        first, second = case_opened(), case_opened()
        async with db.transaction() as session:
            await writer.add(session, first)
            async with session.begin_nested():  # a released savepoint is not yet a commit
                await writer.add(session, second)
            assert committed.sets == 0
        assert committed.sets == 1  # one wake-up for the transaction, not one per row

        records = await read_topic(kafka_admin, topic, until=lambda rs: len(rs) >= 2, within=5)
    finally:
        stopping.set()
        await running

    # A rolled-back row, had it been published, would have come first (the relay keeps order).
    subjects = [header(record, "ce_subject") for record in records]
    assert subjects == [first.application_no, second.application_no]
    assert (await relay.stats()).pending == 0


async def test_a_record_kafka_refuses_is_parked_and_does_not_hold_back_the_next(
    db: Database, kafka: AIOKafkaProducer, telemetry: Telemetry, kafka_admin: Settings
) -> None:
    topic = await fresh_topic(kafka_admin)
    huge = outbox_row(topic)
    huge["payload"] |= {"scan": "x" * 2_000_000}  # twice what the producer sends in a request
    await insert_rows(db, outbox, [huge])
    async with db.transaction() as session:
        normal = await OnTopic(topic).add(session, case_opened())

    relay = OutboxRelay(db, kafka, telemetry)
    assert await relay.publish_pending() == 1

    records = await read_topic(kafka_admin, topic, until=lambda rs: len(rs) >= 1)
    assert [header(record, "ce_id") for record in records] == [normal.id]
    assert await relay.stats() == OutboxStats(pending=0, parked=1, oldest_pending_seconds=0.0)
    assert relay.parked_total == 1
    (parked,) = await relay.parked_rows()
    assert parked.event_id == huge["event_id"]
    assert parked.topic == topic
    assert "MessageSizeTooLarge" in parked.park_reason

    # An operator puts it back (after raising the limits, say): it is tried again, and parked
    # again here, since nothing was fixed; it is never marked sent.
    assert await relay.requeue_parked([parked.seq]) == 1
    waiting = await relay.stats()
    assert (waiting.pending, waiting.parked) == (1, 0)
    assert waiting.oldest_pending_seconds > 0
    assert await relay.publish_pending() == 0
    assert (await relay.stats()).parked == 1


class UnreachableBroker:
    """A producer whose broker is away: `send` fails, or the delivery it promised does."""

    def __init__(self, error: Exception, *, on_delivery: bool) -> None:
        self.error = error
        self.on_delivery = on_delivery

    async def send(self, *_: object, **__: object) -> asyncio.Future[Any]:
        if not self.on_delivery:
            raise self.error
        delivery: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        delivery.set_exception(self.error)
        return delivery


@pytest.mark.parametrize(
    ("error", "on_delivery"),
    [
        (KafkaConnectionError("broker away"), False),
        # Not retriable by aiokafka's flag, yet only a broker that did not answer in time.
        (KafkaTimeoutError(), True),
    ],
)
async def test_a_broker_that_is_away_parks_nothing_and_the_rows_go_out_later(
    db: Database,
    kafka: AIOKafkaProducer,
    telemetry: Telemetry,
    kafka_admin: Settings,
    error: Exception,
    on_delivery: bool,
) -> None:
    topic = await fresh_topic(kafka_admin)
    async with db.transaction() as session:
        first = await OnTopic(topic).add(session, case_opened())
        second = await OnTopic(topic).add(session, case_opened())

    away = cast(AIOKafkaProducer, UnreachableBroker(error, on_delivery=on_delivery))
    assert await OutboxRelay(db, away, telemetry).publish_pending() == 0
    stats = await OutboxRelay(db, kafka, telemetry).stats()
    assert (stats.pending, stats.parked) == (2, 0)

    assert await OutboxRelay(db, kafka, telemetry).publish_pending() == 2
    records = await read_topic(kafka_admin, topic, until=lambda rs: len(rs) >= 2)
    assert [header(record, "ce_id") for record in records] == [first.id, second.id]


async def test_pruning_removes_old_sent_rows_and_old_inbox_rows_never_an_unsent_one(
    db: Database,
) -> None:
    now = datetime.now(UTC)
    long_ago, recently = now - timedelta(days=3), now - timedelta(hours=1)
    topic = "tongban.test.outbox.pruned"  # never published to
    sent_long_ago = [outbox_row(topic, created_at=long_ago, sent_at=long_ago) for _ in range(3)]
    unsent_old = outbox_row(topic, created_at=long_ago)
    parked_old = outbox_row(
        topic, created_at=long_ago, parked_at=long_ago, park_reason="MessageSizeTooLargeError"
    )
    sent_recently = outbox_row(topic, created_at=recently, sent_at=recently)
    await insert_rows(db, outbox, [*sent_long_ago, unsent_old, parked_old, sent_recently])

    def handled(days_ago: float) -> dict[str, Any]:
        return {
            "consumer": "tongban.test",
            "event_id": str(uuid.uuid4()),
            "event_type": events.CaseOpened.event_type,
            "processed_at": now - timedelta(days=days_ago),
        }

    handled_long_ago = [handled(30), handled(15)]
    handled_recently = handled(1)
    await insert_rows(db, inbox, [*handled_long_ago, handled_recently])

    counts = await prune(
        db,
        sent_before=now - timedelta(hours=24),
        inbox_before=now - timedelta(days=14),
        chunk_rows=2,  # several chunks, the last one short
    )

    assert counts == PruneCounts(outbox=3, inbox=2)
    async with db.transaction() as session:
        left = set((await session.scalars(select(outbox.c.event_id))).all())
        handled_left = set((await session.scalars(select(inbox.c.event_id))).all())
    assert left == {unsent_old["event_id"], parked_old["event_id"], sent_recently["event_id"]}
    assert handled_left == {handled_recently["event_id"]}


async def test_a_consumer_commits_once_per_batch_and_what_it_handled_before_stopping(
    db: Database, kafka: AIOKafkaProducer, telemetry: Telemetry, kafka_admin: Settings
) -> None:
    topic = await fresh_topic(kafka_admin)
    partition = TopicPartition(topic, 0)
    group = f"tongban.test.batch.{uuid.uuid4().hex[:8]}"
    numbers = [new_application_no() for _ in range(20)]
    for number in numbers:
        key, value, headers = Envelope.new(case_opened(number), source="/tests").to_kafka()
        await kafka.send_and_wait(topic, value=value, key=key, headers=headers, partition=0)

    handled: list[str] = []
    stop_after: int | None = None
    stopping = asyncio.Event()

    async def handler(event: events.CaseOpened, ctx: EventContext) -> None:
        handled.append(event.application_no)
        if len(handled) == stop_after:
            stopping.set()

    async def consume(name: str, *, until: int) -> list[int]:
        """Run a runner of the group until `until` records were handled in all; returns the
        offsets it committed, one entry per commit."""
        runner = ConsumerRunner(
            name=name,
            topics=[topic],
            handlers={events.CaseOpened.event_type: handler},
            db=db,
            outbox=Outbox("/tests"),
            producer=kafka,
            telemetry=telemetry,
            bootstrap_servers=kafka_admin.kafka_bootstrap_servers,
            group_id=group,
            security=client_security(kafka_admin),
        )
        commits: list[int] = []
        commit = runner.consumer.commit

        async def counted(offsets: dict[TopicPartition, int]) -> None:
            commits.append(offsets[partition])
            await commit(offsets)

        runner.consumer.commit = counted
        nonlocal stop_after
        stop_after = until
        stopping.clear()
        await runner.start()
        try:
            await asyncio.wait_for(runner.run(stopping), timeout=60)
            assert await runner.consumer.committed(partition) == until
        finally:
            await runner.stop()
        return commits

    # Stopped after the 5th record, mid-batch: it commits what it handled, no more.
    first = await consume("tongban.test.batch", until=5)
    assert first[-1] == 5
    assert handled == numbers[:5]

    # The same consumer again takes up after it; the 15 records cost one commit per batch.
    second = await consume("tongban.test.batch", until=20)
    assert second[-1] == 20
    assert len(second) < 15
    assert handled == numbers  # each handled once, in order

    # A consumer with a new name (no inbox rows to hide a redelivery) in the same group gets
    # only what came after the committed offset.
    sentinel = case_opened()
    key, value, headers = Envelope.new(sentinel, source="/tests").to_kafka()
    await kafka.send_and_wait(topic, value=value, key=key, headers=headers, partition=0)
    await consume("tongban.test.batch.other", until=21)
    assert handled == [*numbers, sentinel.application_no]
