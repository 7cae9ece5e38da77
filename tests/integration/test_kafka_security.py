"""The launcher's broker authenticates every client (SASL/SCRAM) and denies what the ACL table
does not allow: a locality's approval system reads its own requests and nothing else, a service
writes only its own channels. All against the real broker."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.conn import create_conn
from aiokafka.errors import (
    ClusterAuthorizationFailedError,
    GroupAuthorizationFailedError,
    KafkaConnectionError,
    SaslAuthenticationFailed,
    TopicAuthorizationFailedError,
)

from shared.messaging import topics
from shared.messaging.kafka import KafkaSecurity, make_consumer, make_follower, make_producer
from tooling.infra import Infrastructure
from tooling.infra.kafka_credentials import KafkaCredentials
from tooling.kafka_access import tongban_acl_table
from tooling.kafka_acl import (
    AclBinding,
    AclTable,
    Operation,
    PatternType,
    ResourceType,
    apply_acls,
    broker_acls,
)
from tooling.kafka_principals import AUDIT_WATCH_PRINCIPAL

pytestmark = pytest.mark.integration

HEFEI = topics.approval_requests("340100")
WUHU = topics.approval_requests("340200")
REFUSED_WITHIN = 20.0


@pytest.fixture(scope="module")
def credentials(infrastructure: Infrastructure) -> KafkaCredentials:
    if infrastructure.kafka_credentials is None:
        pytest.skip("the broker from KAFKA_BOOTSTRAP_SERVERS is not the launcher's")
    return infrastructure.kafka_credentials


@pytest.fixture(scope="module")
def bootstrap(infrastructure: Infrastructure) -> str:
    return infrastructure.kafka_bootstrap_servers


@pytest.fixture
async def admin_producer(
    bootstrap: str, credentials: KafkaCredentials
) -> AsyncIterator[AIOKafkaProducer]:
    producer = make_producer(
        bootstrap, client_id="test-admin", security=credentials.client_security()
    )
    await producer.start()
    yield producer
    await producer.stop()


def reader(bootstrap: str, topic: str, security: KafkaSecurity, group: str) -> AIOKafkaConsumer:
    return make_consumer(
        bootstrap, [topic], group_id=group, client_id="test-security", security=security
    )


async def read_one(consumer: AIOKafkaConsumer, key: bytes) -> bytes | None:
    """Start `consumer` and read until the record with `key`; errors propagate."""
    try:
        await consumer.start()
        async with asyncio.timeout(REFUSED_WITHIN):
            while True:
                for records in (await consumer.getmany(timeout_ms=300)).values():
                    for record in records:
                        if record.key == key:
                            return record.value
    finally:
        await consumer.stop()


async def produce(producer: AIOKafkaProducer, topic: str) -> None:
    try:
        await producer.start()
        async with asyncio.timeout(REFUSED_WITHIN):
            await producer.send_and_wait(topic, b"{}", key=b"TB-SECURITY")
    finally:
        await producer.stop()


async def test_a_client_without_credentials_is_refused(bootstrap: str) -> None:
    producer = make_producer(bootstrap, client_id="test-anonymous")
    with pytest.raises(KafkaConnectionError):
        await asyncio.wait_for(producer.start(), REFUSED_WITHIN)
    await producer.stop()


async def test_a_wrong_password_is_refused(bootstrap: str, credentials: KafkaCredentials) -> None:
    host, _, port = bootstrap.rpartition(":")
    intake = credentials.client_security("intake")
    connection = await create_conn(host, int(port), **intake)  # the right one goes through
    connection.close()
    wrong = {**intake, "sasl_plain_password": "not-the-password"}
    borrowed = {**intake, "sasl_plain_username": "routing"}  # another principal's password
    for security in (wrong, borrowed):
        with pytest.raises(SaslAuthenticationFailed):
            await asyncio.wait_for(create_conn(host, int(port), **security), REFUSED_WITHIN)
        producer = make_producer(bootstrap, client_id="test-wrong-password", security=security)
        with pytest.raises(KafkaConnectionError):
            await asyncio.wait_for(producer.start(), REFUSED_WITHIN)
        await producer.stop()


async def test_a_locality_reads_its_own_requests_and_not_another_localitys(
    bootstrap: str, credentials: KafkaCredentials, admin_producer: AIOKafkaProducer
) -> None:
    key = f"TB-{uuid.uuid4().hex[:10]}".encode()
    for topic in (WUHU, HEFEI):
        await admin_producer.send_and_wait(topic, b'{"for": "' + topic.encode() + b'"}', key=key)
    wuhu = credentials.client_security("approval-340200")

    own = reader(bootstrap, WUHU, wuhu, f"approval-340200.test-{uuid.uuid4().hex[:6]}")
    assert await read_one(own, key) == b'{"for": "' + WUHU.encode() + b'"}'

    other = reader(bootstrap, HEFEI, wuhu, f"approval-340200.test-{uuid.uuid4().hex[:6]}")
    with pytest.raises(TopicAuthorizationFailedError):
        await read_one(other, key)


async def test_a_locality_uses_groups_of_its_own_prefix_only(
    bootstrap: str, credentials: KafkaCredentials
) -> None:
    wuhu = credentials.client_security("approval-340200")
    for group in ("tongban.approval", "approval-340100.reader", "approval-3402001"):
        consumer = reader(bootstrap, WUHU, wuhu, group)
        with pytest.raises(GroupAuthorizationFailedError):
            await read_one(consumer, b"none")


async def test_a_locality_cannot_produce_anything(
    bootstrap: str, credentials: KafkaCredentials
) -> None:
    hefei = credentials.client_security("approval-340100")
    for topic in (HEFEI, topics.APPROVAL_EVENTS, topics.INTAKE_EVENTS):
        # Idempotent, as the services and the Java client produce: it may write no topic, so it
        # does not even get a producer id.
        producer = make_producer(bootstrap, client_id="test-locality-writer", security=hefei)
        with pytest.raises(ClusterAuthorizationFailedError):
            await produce(producer, topic)
        plain = AIOKafkaProducer(**hefei, bootstrap_servers=bootstrap, acks=1)
        with pytest.raises(TopicAuthorizationFailedError):
            await produce(plain, topic)


async def test_a_service_writes_only_the_channels_it_produces(
    bootstrap: str, credentials: KafkaCredentials
) -> None:
    intake = credentials.client_security("intake")
    forged = make_producer(bootstrap, client_id="test-intake-forges", security=intake)
    with pytest.raises(TopicAuthorizationFailedError):
        await produce(forged, topics.APPROVAL_EVENTS)
    allowed = make_producer(bootstrap, client_id="test-intake-writes", security=intake)
    await produce(allowed, topics.INTAKE_EVENTS)


async def test_a_service_cannot_read_the_personal_data_of_the_request_topics(
    bootstrap: str, credentials: KafkaCredentials
) -> None:
    for service in ("intake", "delivery"):
        consumer = reader(
            bootstrap, HEFEI, credentials.client_security(service), f"tongban.{service}"
        )
        with pytest.raises(TopicAuthorizationFailedError):
            await read_one(consumer, b"none")


async def test_the_audit_watcher_reads_the_checkpoints_and_nothing_else(
    bootstrap: str, credentials: KafkaCredentials
) -> None:
    """As it reads (partitions assigned by hand, no group): the checkpoints topic yes, to its
    end (nothing is written to it here: the topic is evidence, kept for good, that other tests
    verify; test_audit_ledger's watcher test stores routing's real checkpoints as this
    principal); the applications' topics no; and it can write no topic, not even that one."""
    watcher = credentials.client_security(AUDIT_WATCH_PRINCIPAL)
    key = b"TB-SECURITY"
    consumer = make_follower(bootstrap, client_id="test-audit-watch", security=watcher)
    await consumer.start()
    try:
        partitions = [TopicPartition(topics.AUDIT_CHECKPOINTS, p) for p in range(3)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        end = await consumer.end_offsets(partitions)
        async with asyncio.timeout(REFUSED_WITHIN):
            while any([await consumer.position(tp) < end[tp] for tp in partitions]):
                await consumer.getmany(timeout_ms=300)
    finally:
        await consumer.stop()
    # The applications' topics: the broker does not even say they exist to it, and refuses them.
    consumer = make_follower(bootstrap, client_id="test-audit-watch", security=watcher)
    await consumer.start()
    try:
        cluster = await consumer._client.fetch_all_metadata()
        assert cluster.topics() == {topics.AUDIT_CHECKPOINTS}
    finally:
        await consumer.stop()
    for topic in (topics.INTAKE_EVENTS, HEFEI):
        following = make_follower(bootstrap, topic, client_id="test-audit-watch", security=watcher)
        with pytest.raises(TopicAuthorizationFailedError):
            await read_one(following, key)
    with pytest.raises(GroupAuthorizationFailedError):
        await read_one(reader(bootstrap, topics.AUDIT_CHECKPOINTS, watcher, "tongban.audit"), key)
    for topic in (topics.AUDIT_CHECKPOINTS, topics.INTAKE_EVENTS, topics.APPROVAL_EVENTS):
        producer = make_producer(bootstrap, client_id="test-audit-watch-writes", security=watcher)
        with pytest.raises(ClusterAuthorizationFailedError):
            await produce(producer, topic)
        plain = AIOKafkaProducer(**watcher, bootstrap_servers=bootstrap, acks=1)
        with pytest.raises(TopicAuthorizationFailedError):
            await produce(plain, topic)


async def test_applying_the_table_again_changes_nothing_and_removes_stray_grants(
    bootstrap: str, credentials: KafkaCredentials
) -> None:
    admin = credentials.client_security()
    table = tongban_acl_table()
    again = await apply_acls(bootstrap, table, security=admin)
    assert (again.created, again.removed, again.unchanged) == (0, 0, len(table.bindings))

    stray = AclBinding(
        "approval-340100",
        ResourceType.TOPIC,
        topics.INTAKE_EVENTS,
        PatternType.LITERAL,
        Operation.READ,
    )
    widened = AclTable((*table.bindings, stray), table.topics)
    assert (await apply_acls(bootstrap, widened, security=admin)).created == 1
    assert (await apply_acls(bootstrap, table, security=admin)).removed == 1
    held = await broker_acls(bootstrap, security=admin)
    assert [b for b in held if b.principal in table.principals] == list(table.bindings)
