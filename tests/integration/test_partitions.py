"""Partitions on the real broker (issue 23, scale out): the relay keys every record by its
application number, so one application's events land on one partition of a four-partition
topic in the order they were written, however many applications interleave; and the admin's
step raises a topic made with fewer partitions instead of failing or leaving it narrow."""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from typing import cast

import pytest
from aiokafka import AIOKafkaProducer

from shared.db import Database
from shared.messaging import events, topics
from shared.messaging.kafka import client_security, ensure_topics, make_admin
from shared.messaging.outbox import Outbox
from shared.messaging.relay import OutboxRelay
from shared.settings import Settings
from shared.telemetry import setup_telemetry
from tests.harness import eventually, header, messaging_database, read_topic
from tooling.infra import Infrastructure

pytestmark = pytest.mark.integration

DATABASE = "tongban_test_partitions"
APPLICATIONS = 12
EVENTS_EACH = 5


@pytest.fixture
async def db(infrastructure: Infrastructure) -> AsyncIterator[Database]:
    async with messaging_database(infrastructure.database_url, DATABASE) as database:
        yield database


class OnTopic(Outbox):
    """Every event to one fresh topic of the test's own (the relay's keying, apart from other
    tests' records)."""

    def __init__(self, topic: str) -> None:
        super().__init__("/tests")
        self.topic = topic

    def topic_of(self, payload: events.EventPayload) -> str:
        return self.topic


async def partition_counts(settings: Settings, names: list[str]) -> dict[str, int]:
    """Each topic's partitions, once the broker lists every one of them with its partitions
    (a topic just made or raised takes a moment to elect its leaders)."""
    admin = make_admin(settings.kafka_bootstrap_servers, security=client_security(settings))
    await admin.start()

    async def described() -> dict[str, int] | None:
        listed = await admin.describe_topics(names)
        counts = {str(topic["topic"]): len(topic["partitions"]) for topic in listed}
        leaders = all(p["leader"] >= 0 for topic in listed for p in topic["partitions"])
        return counts if leaders and all(counts.get(name) for name in names) else None

    try:
        return cast(dict[str, int], await eventually(described, within=15))
    finally:
        await admin.close()


async def test_one_applications_events_stay_on_one_partition_in_the_order_written(
    db: Database, kafka: AIOKafkaProducer, kafka_admin: Settings
) -> None:
    topic = f"tongban.test.partitions.{uuid.uuid4().hex[:8]}"
    security = client_security(kafka_admin)
    await ensure_topics(kafka_admin.kafka_bootstrap_servers, [topic], security=security)
    assert (await partition_counts(kafka_admin, [topic]))[topic] == 4  # the default plan

    numbers = [f"TBPART{n:04d}{uuid.uuid4().hex[:6].upper()}" for n in range(APPLICATIONS)]
    writer = OnTopic(topic)
    # Interleaved as windows would: the first event of every application, then the second...
    for step in range(EVENTS_EACH):
        async with db.transaction() as session:
            for number in numbers:
                await writer.add(
                    session,
                    events.CaseOpened(
                        application_no=number,
                        locality="340100",
                        deadline=date(2026, 12, step + 1),
                        opened_at=datetime.now(UTC),
                    ),
                )
    relay = OutboxRelay(db, kafka, setup_telemetry("partitions-test"))
    assert await relay.publish_pending() == APPLICATIONS * EVENTS_EACH

    records = await read_topic(
        kafka_admin, topic, until=lambda rs: len(rs) >= APPLICATIONS * EVENTS_EACH
    )
    partitions: dict[str, set[int]] = defaultdict(set)
    steps: dict[str, list[int]] = defaultdict(list)
    # Within a partition, read in offset order.
    for record in sorted(records, key=lambda r: (r.partition, r.offset)):
        number = header(record, "ce_subject") or ""
        assert record.key == number.encode()
        partitions[number].add(record.partition)
        steps[number].append(date.fromisoformat(json.loads(record.value or b"")["deadline"]).day)
    assert set(partitions) == set(numbers)
    for number in numbers:
        assert len(partitions[number]) == 1, number
        assert steps[number] == list(range(1, EVENTS_EACH + 1)), number
    # Twelve keys on four partitions: the load is spread, not all on one.
    assert len({p for (p,) in partitions.values()}) > 1


async def test_the_admins_step_raises_a_topic_made_with_fewer_partitions(
    kafka_admin: Settings,
) -> None:
    narrow, left = (f"tongban.test.narrow.{uuid.uuid4().hex[:8]}" for _ in range(2))
    security = client_security(kafka_admin)
    servers = kafka_admin.kafka_bootstrap_servers
    await ensure_topics(servers, [narrow, left], partitions=2, security=security)
    assert await partition_counts(kafka_admin, [narrow, left]) == {narrow: 2, left: 2}

    # A service's start creates what is missing and leaves the rest alone...
    assert await ensure_topics(servers, [left], partitions=4, security=security) == {}
    # ... the admin's (the launcher's, `tongban kafka-acls --apply`) raises it to the plan.
    raised = await ensure_topics(servers, [narrow], partitions=4, security=security, grow=True)
    assert raised == {narrow: 4}
    assert await partition_counts(kafka_admin, [narrow, left]) == {narrow: 4, left: 2}
    # Again: nothing to raise, no error.
    assert await ensure_topics(servers, [narrow], partitions=4, security=security, grow=True) == {}
    # Never narrowed: Kafka cannot take partitions away, and the plan does not try.
    assert await ensure_topics(servers, [narrow], partitions=2, security=security, grow=True) == {}


async def test_the_launcher_made_the_busy_topics_with_four_partitions(
    kafka_admin: Settings,
) -> None:
    busy = [topics.INTAKE_EVENTS, topics.ROUTING_EVENTS, topics.APPROVAL_EVENTS]
    counts = await partition_counts(kafka_admin, busy)
    assert counts == dict.fromkeys(busy, 4)
