"""No accepted application lost or handled twice: duplicates, a relay that dies at the worst
moment, poison messages and failing handlers, all against the real broker and database."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime

import pytest
from aiokafka import AIOKafkaProducer
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import create_async_engine

from services.approval.db import CaseRow
from shared.db import Database
from shared.db.messaging_tables import outbox
from shared.db.migrations import upgrade_async
from shared.messaging import events, topics
from shared.messaging.consumer import ConsumerRunner, EventContext
from shared.messaging.envelope import Envelope
from shared.messaging.kafka import client_security, ensure_topics, make_producer
from shared.messaging.outbox import Outbox
from shared.messaging.relay import OutboxRelay
from shared.messaging.signing import EventSigner
from shared.settings import with_database
from shared.telemetry import setup_telemetry
from tests.harness import Stack, eventually, header, read_topic
from tooling.infra import Infrastructure, ensure_databases_async

pytestmark = pytest.mark.integration

HEFEI_REQUESTS = topics.approval_requests("340100")


def routed_event(application_no: str) -> events.ApplicationRouted:
    now = datetime.now(UTC)
    return events.ApplicationRouted(
        application_no=application_no,
        item_code="GA-HJ-001",
        item_name="户口迁移证明开具",
        applicant=events.Applicant(
            kind="person",
            name="李四",
            id_type="resident_id",
            id_number="11010519491231002X",
            phone="13800000001",
            locality="340104",
        ),
        receiving_locality="341200",
        window_id="W341200-01",
        competent_locality="340100",
        department="公安局",
        materials=[],
        delivery=events.Delivery(method="window_pickup"),
        accepted_at=now,
        promised_date=date.today(),
        statutory_days=20,
        promised_days=5,
        routed_at=now,
    )


def new_application_no() -> str:
    return f"TBTEST{uuid.uuid4().hex[:12].upper()}"


async def send(
    producer: AIOKafkaProducer,
    stack: Stack | None,
    topic: str,
    envelope: Envelope,
    partition: int = 0,
) -> None:
    """Publish `envelope`, signed as its rightful producer would (routing, for a request
    topic), unless no stack is given (a test topic that no verifying consumer reads)."""
    if stack is not None:
        envelope = stack.signed(envelope, topic)
    key, value, headers = envelope.to_kafka()
    await producer.send_and_wait(topic, value=value, key=key, headers=headers, partition=partition)


async def count_cases(stack: Stack, application_no: str) -> int:
    engine = create_async_engine(stack.settings.service_database_url("approval"))
    async with engine.connect() as connection:
        count = await connection.scalar(
            select(func.count())
            .select_from(CaseRow)
            .where(CaseRow.application_no == application_no)
        )
    await engine.dispose()
    return int(count or 0)


async def test_an_event_delivered_twice_creates_one_case(
    stack: Stack, producer: AIOKafkaProducer
) -> None:
    twice = Envelope.new(routed_event(new_application_no()), source="/tests")
    sentinel = Envelope.new(routed_event(new_application_no()), source="/tests")
    # Same partition: once the sentinel's case exists, both copies before it were consumed.
    await send(producer, stack, HEFEI_REQUESTS, twice)
    await send(producer, stack, HEFEI_REQUESTS, twice)
    await send(producer, stack, HEFEI_REQUESTS, sentinel)

    await eventually(lambda: count_cases(stack, sentinel.subject))
    assert await count_cases(stack, twice.subject) == 1


async def test_a_relay_killed_after_publishing_but_before_marking_sent_causes_no_second_case(
    stack: Stack, infrastructure: Infrastructure
) -> None:
    await ensure_databases_async(infrastructure.database_url, ["tongban_test_relay"], recreate=True)
    url = with_database(infrastructure.database_url, "tongban_test_relay")
    await upgrade_async("routing", url)  # any service's schema has the outbox
    db = Database(url)
    telemetry = setup_telemetry("relay-test", exporter=stack.spans)
    kafka = make_producer(
        stack.settings.kafka_bootstrap_servers,
        client_id="relay-test",
        security=client_security(stack.settings),
    )
    await kafka.start()
    try:
        event = routed_event(new_application_no())
        async with db.transaction() as session:
            # Its channel sends it to its competent locality's topic: HEFEI_REQUESTS.
            envelope = await Outbox("/tests").add(session, event)

        routing_signer = EventSigner(stack.settings.key_ring())
        dying = OutboxRelay(db, kafka, telemetry, signer=routing_signer)

        async def killed(*_: object) -> None:
            raise RuntimeError("relay killed between publish and mark-sent")

        dying._mark_sent = killed  # type: ignore[method-assign,assignment]
        with pytest.raises(RuntimeError):
            await dying.publish_pending()
        async with db.transaction() as session:
            assert await session.scalar(select(outbox.c.sent_at)) is None  # still unsent

        assert await OutboxRelay(db, kafka, telemetry, signer=routing_signer).publish_pending() == 1
        async with db.transaction() as session:
            assert await session.scalar(select(outbox.c.sent_at)) is not None

        copies = await read_topic(
            stack.settings,
            HEFEI_REQUESTS,
            until=lambda records: sum(header(r, "ce_id") == envelope.id for r in records) >= 2,
        )
        assert sum(header(r, "ce_id") == envelope.id for r in copies) == 2  # published twice
        await eventually(lambda: count_cases(stack, event.application_no))
        await asyncio.sleep(1)  # give a wrongly-created second case the time to appear
        assert await count_cases(stack, event.application_no) == 1  # handled once
    finally:
        await kafka.stop()
        await db.dispose()


async def test_a_poison_message_is_dead_lettered_and_the_next_good_one_still_processed(
    stack: Stack, producer: AIOKafkaProducer
) -> None:
    poison = f"not a cloudevent {uuid.uuid4()}".encode()
    await producer.send_and_wait(HEFEI_REQUESTS, value=poison, key=b"garbage", partition=0)
    good = Envelope.new(routed_event(new_application_no()), source="/tests")
    await send(producer, stack, HEFEI_REQUESTS, good)

    await eventually(lambda: count_cases(stack, good.subject))
    dead = await read_topic(
        stack.settings,
        topics.dead_letter(HEFEI_REQUESTS),
        until=lambda records: any(
            r.value == poison and header(r, "dlq.consumer") == "tongban.approval" for r in records
        ),
    )
    letter = next(
        r for r in dead if r.value == poison and header(r, "dlq.consumer") == "tongban.approval"
    )
    assert header(letter, "dlq.error.type") == "EnvelopeError"
    assert header(letter, "dlq.original.topic") == HEFEI_REQUESTS
    assert "ce_ headers missing" in (header(letter, "dlq.error.message") or "")


async def test_the_runner_retries_dead_letters_after_the_last_attempt_and_skips_redeliveries(
    stack: Stack, infrastructure: Infrastructure, producer: AIOKafkaProducer
) -> None:
    await ensure_databases_async(
        infrastructure.database_url, ["tongban_test_runner"], recreate=True
    )
    url = with_database(infrastructure.database_url, "tongban_test_runner")
    await upgrade_async("routing", url)
    db = Database(url)
    topic = f"tongban.test.{uuid.uuid4().hex[:8]}"
    await ensure_topics(
        stack.settings.kafka_bootstrap_servers,
        [topic, topics.dead_letter(topic)],
        partitions=1,
        security=client_security(stack.settings),
    )

    broken, flaky, outage, fine, last = (new_application_no() for _ in range(5))
    attempts: dict[str, int] = {}
    handled: list[str] = []

    async def handler(event: events.ApplicationRouted, ctx: EventContext) -> None:
        attempts[event.application_no] = attempts.get(event.application_no, 0) + 1
        if event.application_no == broken:
            raise RuntimeError("the local approval database is gone")
        if event.application_no == flaky and attempts[flaky] < 2:
            raise ValueError("a lock timeout in the handler's own logic")
        if event.application_no == outage and attempts[outage] <= 4:
            raise ConnectionError("database connection lost")  # more often than max_attempts
        handled.append(event.application_no)

    runner = ConsumerRunner(
        name="test-runner",
        topics=[topic],
        handlers={events.ApplicationRouted.event_type: handler},
        db=db,
        outbox=Outbox("/tests"),
        producer=producer,
        telemetry=setup_telemetry("runner-test", exporter=stack.spans),
        bootstrap_servers=stack.settings.kafka_bootstrap_servers,
        security=client_security(stack.settings),
        max_attempts=3,
        backoff_seconds=0.01,
    )
    for number in (broken, flaky, outage, fine):
        await send(producer, None, topic, Envelope.new(routed_event(number), source="/tests"))
    redelivered = Envelope.new(routed_event(fine), source="/tests")
    await send(producer, None, topic, redelivered)
    await send(producer, None, topic, redelivered)  # the same event id again: the inbox skips it
    await send(producer, None, topic, Envelope.new(routed_event(last), source="/tests"))
    stopping = asyncio.Event()
    await runner.start()
    task = asyncio.create_task(runner.run(stopping))
    try:

        async def all_handled() -> bool:
            return last in handled

        await eventually(all_handled)
    finally:
        stopping.set()
        await task
        await runner.stop()
        await db.dispose()

    assert attempts[broken] == 3
    # The flaky one retried once and got through, in order; an outage longer than the retry
    # budget was waited out instead of dead-lettering a good event; the redelivered event ran
    # once (its first copy ran too: a new event id for the same application).
    assert handled == [flaky, outage, fine, fine, last]
    assert attempts[outage] == 5
    dead = await read_topic(
        stack.settings,
        topics.dead_letter(topic),
        until=lambda records: len(records) >= 1,
    )
    assert len(dead) == 1
    assert Envelope.from_kafka(dead[0].key, dead[0].value, list(dead[0].headers)).subject == broken
    assert header(dead[0], "dlq.error.type") == "RuntimeError"
    assert header(dead[0], "dlq.attempts") == "3"
