"""Kafka clients configured the way every service needs them, and what their errors mean."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka import errors as kafka_errors
from aiokafka.admin import AIOKafkaAdminClient, NewPartitions, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.client import AIOKafkaClient
from aiokafka.errors import KafkaConnectionError, KafkaError
from aiokafka.helpers import create_ssl_context
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_delay, wait_exponential

from shared.messaging.channels import RETAINED_FOR_EVER, channel_of
from shared.messaging.topics import DEAD_LETTER_SUFFIX
from shared.settings import Settings

log = logging.getLogger(__name__)

TOPIC_AUTHORIZATION_FAILED = 29
TOPIC_ALREADY_EXISTS = 36

# The broker's default message.max.bytes, spelled out: a bigger record is refused by the producer
# itself (MessageSizeTooLargeError from send()) before it costs a round trip, and the relay parks
# it. Raise both together, or neither.
MAX_REQUEST_BYTES = 1024 * 1024

# How long the broker holds a fetch that finds nothing new (make_consumer says why this long).
FETCH_MAX_WAIT_MS = 500


# Keyword arguments of every aiokafka client (producer, consumer, admin, bare client) that say how
# it authenticates and encrypts; empty for a PLAINTEXT broker.
KafkaSecurity = Mapping[str, Any]


def client_security(settings: Settings) -> dict[str, Any]:
    """How this process's Kafka clients connect: KAFKA_SECURITY_PROTOCOL, KAFKA_SASL_MECHANISM,
    KAFKA_USERNAME, KAFKA_PASSWORD and KAFKA_SSL_CAFILE, as aiokafka's keyword arguments.

    Every client of the code base takes these (make_producer, make_consumer, ensure_topics, the
    replicas), so a process authenticates as one principal whatever it opens.
    """
    protocol = settings.kafka_security_protocol
    options: dict[str, Any] = {"security_protocol": protocol}
    if protocol in ("SSL", "SASL_SSL"):
        options["ssl_context"] = create_ssl_context(cafile=settings.kafka_ssl_cafile)
    if protocol in ("SASL_PLAINTEXT", "SASL_SSL"):
        if not settings.kafka_username or settings.kafka_password is None:
            raise ValueError(
                f"KAFKA_SECURITY_PROTOCOL={protocol} needs KAFKA_USERNAME and KAFKA_PASSWORD"
            )
        options["sasl_mechanism"] = settings.kafka_sasl_mechanism
        options["sasl_plain_username"] = settings.kafka_username
        options["sasl_plain_password"] = settings.kafka_password.get_secret_value()
    return options


def make_producer(
    bootstrap_servers: str, *, client_id: str, security: KafkaSecurity | None = None
) -> AIOKafkaProducer:
    # Idempotent producer with acks=all: a retried send never writes a record twice, and a
    # record counts as published only once the broker has it durably. (On a broker with ACLs,
    # Kafka 3.x lets a principal produce idempotently once it may write some topic.)
    return AIOKafkaProducer(
        **(security or {}),
        bootstrap_servers=bootstrap_servers,
        client_id=client_id,
        enable_idempotence=True,
        acks="all",
        # Send at once: every hop of an application's journey would otherwise wait up to the
        # linger; under load, records still batch while a request is in flight.
        linger_ms=0,
        max_request_size=MAX_REQUEST_BYTES,
    )


def make_consumer(
    bootstrap_servers: str,
    topics: Iterable[str],
    *,
    group_id: str,
    client_id: str,
    security: KafkaSecurity | None = None,
    session_timeout_ms: int = 10000,
) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        *topics,
        **(security or {}),
        bootstrap_servers=bootstrap_servers,
        group_id=group_id,
        client_id=client_id,
        # A member silent this long is taken out of the group, its partitions given to others.
        session_timeout_ms=session_timeout_ms,
        enable_auto_commit=False,  # offsets move only after the effect has committed
        auto_offset_reset="earliest",
        metadata_max_age_ms=5000,
        # The broker answers a parked fetch as soon as one byte arrives (fetch_min_bytes=1), so
        # this is not the latency of a new record. It bounds the wait of a partition that is not
        # in the fetch parked at the broker (aiokafka keeps one fetch per broker in flight, and
        # e.g. a partition whose offset was still being looked up is left out of it). Each idle
        # fetch names every partition the consumer reads (aiokafka has no incremental fetch
        # sessions): hundreds for approval's and the ledger's groups over the per-locality
        # topics. At 100 ms those empty fetches were most of the idle broker's CPU (19.6% of a
        # core for the stack; 11.8% at 500 ms, Kafka's own default).
        fetch_max_wait_ms=FETCH_MAX_WAIT_MS,
    )


def make_follower(
    bootstrap_servers: str, *topics: str, client_id: str, security: KafkaSecurity | None = None
) -> AIOKafkaConsumer:
    """A consumer without a group that reads every partition of `topics` from its beginning
    and commits nothing (shared.messaging.replica); with no topic, one that is assigned
    partitions by hand (the dead-letter tools, offset look-ups). It joins no group, so no
    service's group is rebalanced by it."""
    return AIOKafkaConsumer(
        *topics,
        **(security or {}),
        bootstrap_servers=bootstrap_servers,
        client_id=client_id,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        # The broker answers a fetch as soon as one record is there: a change is applied within
        # a few milliseconds however long an idle fetch waits (make_consumer says why 500 ms).
        fetch_max_wait_ms=FETCH_MAX_WAIT_MS,
    )


def make_admin(
    bootstrap_servers: str, *, security: KafkaSecurity | None = None, **options: Any
) -> AIOKafkaAdminClient:
    return AIOKafkaAdminClient(**(security or {}), bootstrap_servers=bootstrap_servers, **options)


def make_client(
    bootstrap_servers: str, *, security: KafkaSecurity | None = None, **options: Any
) -> AIOKafkaClient:
    """A bare client, for requests the admin client has no method for (ACLs) and probes."""
    return AIOKafkaClient(**(security or {}), bootstrap_servers=bootstrap_servers, **options)


# Not retriable by aiokafka's flag, but about the producer, the connection, the client's
# configuration or its permissions, not about one record: once someone fixes them the same record
# goes through, so the relay holds the row back (and retries) instead of parking it. A timeout is
# a broker that did not answer in time, whatever the flag says.
_NOT_ABOUT_THE_RECORD: tuple[type[KafkaError], ...] = (
    kafka_errors.KafkaTimeoutError,
    kafka_errors.KafkaUnavailableError,
    kafka_errors.BrokerNotAvailableError,
    kafka_errors.ProducerClosed,
    kafka_errors.ProducerFenced,
    kafka_errors.IllegalStateError,
    kafka_errors.OutOfOrderSequenceNumber,
    kafka_errors.UnknownProducerId,
    kafka_errors.InvalidProducerEpoch,
    kafka_errors.InvalidProducerIdMapping,
    kafka_errors.InvalidTxnState,
    kafka_errors.AuthenticationFailedError,
    kafka_errors.AuthenticationMethodNotSupported,
    kafka_errors.SaslAuthenticationFailed,
    kafka_errors.UnsupportedSaslMechanismError,
    kafka_errors.IllegalSaslStateError,
    kafka_errors.TopicAuthorizationFailedError,
    kafka_errors.ClusterAuthorizationFailedError,
    kafka_errors.TransactionalIdAuthorizationFailed,
    kafka_errors.UnsupportedVersionError,
    kafka_errors.IncompatibleBrokerVersion,
    kafka_errors.UnrecognizedBrokerVersion,
    kafka_errors.KafkaConfigurationError,
    kafka_errors.UnsupportedCodecError,
    kafka_errors.InvalidRequiredAcksError,
    kafka_errors.QuotaViolationError,
    kafka_errors.UnknownError,
)


def refuses_record(error: BaseException) -> bool:
    """Kafka will never take this record, however often it is sent: it is too large, names an
    invalid topic, breaks a broker policy... (a non-retriable error about the record itself)."""
    return (
        isinstance(error, KafkaError)
        and not error.retriable
        and not isinstance(error, _NOT_ABOUT_THE_RECORD)
    )


def _topic_configs(topic: str) -> dict[str, str]:
    # State topics keep the latest record per key for good (a replica is built by reading one
    # from the start); evidence (the ledger's checkpoints) keeps every record for good; every
    # other topic keeps the broker's time-based retention.
    try:
        channel = channel_of(topic)
    except LookupError:  # dead-letter topics and test topics
        return {}
    if channel.retained:
        return dict(RETAINED_FOR_EVER)
    return {"cleanup.policy": "compact"} if channel.compacted else {}


def topic_partitions(topic: str, partitions: int, locality_partitions: int) -> int:
    """How many partitions `topic` is made with: `locality_partitions` for a topic of a
    per-locality family and its dead letters, `partitions` for every other.

    A per-locality topic carries one locality's share of the province (a few applications a
    second at most), and there are hundreds of them: approval's and the ledger's consumers name
    every partition they read in every fetch (aiokafka has no incremental fetch sessions), so at
    three partitions each, encoding and decoding those fetches was a sixth of approval's CPU
    under load (py-spy, `make bench`). One locality's approval pods still share its load when
    it has more than one partition."""
    base = topic.removesuffix(DEAD_LETTER_SUFFIX)
    try:
        per_locality = channel_of(base).per_locality
    except LookupError:  # test topics
        per_locality = False
    return locality_partitions if per_locality else partitions


def _retained(topic: str) -> bool:
    try:
        return channel_of(topic).retained
    except LookupError:
        return False


async def keep_retained(
    bootstrap_servers: str, topics: Iterable[str], *, security: KafkaSecurity | None = None
) -> list[str]:
    """Give the retained topics among `topics` their settings again, also when they exist
    already (made before their channel was retained, or changed by hand): an admin's step, run
    with the ACL table (`tongban kafka-acls --apply`, the launcher). The topics it set."""
    retained = sorted({topic for topic in topics if _retained(topic)})
    if not retained:
        return []
    admin = make_admin(bootstrap_servers, security=security)
    await admin.start()
    try:
        responses = await admin.alter_configs(
            [
                ConfigResource(ConfigResourceType.TOPIC, topic, configs=dict(RETAINED_FOR_EVER))
                for topic in retained
            ]
        )
    finally:
        await admin.close()
    for response in responses:
        for code, message, _, name in response.resources:
            if code != 0:
                raise KafkaError(f"cannot set the retention of {name}: {message} ({code})")
    return retained


def partitions_to_add(existing: Mapping[str, int], planned: Mapping[str, int]) -> dict[str, int]:
    """Topic → the partition count it is raised to: the existing topics that have fewer
    partitions than planned (a broker made by an older Tongban, or by hand). Kafka can add
    partitions but never take them away, so a topic with more keeps them. A topic the broker
    lists with none is still being made (its leaders not elected yet): left alone."""
    return {
        name: count for name, count in sorted(planned.items()) if 0 < existing.get(name, 0) < count
    }


def topic_plan(
    topics: Iterable[str], partitions: int, locality_partitions: int | None = None
) -> dict[str, int]:
    """Topic → how many partitions it is made with (topic_partitions)."""
    return {
        name: topic_partitions(name, partitions, locality_partitions or partitions)
        for name in sorted(set(topics))
    }


async def ensure_topics(
    bootstrap_servers: str,
    topics: Iterable[str],
    *,
    partitions: int = 4,
    locality_partitions: int | None = None,
    security: KafkaSecurity | None = None,
    grow: bool = False,
) -> dict[str, int]:
    """Create the topics that do not exist yet (safe to run from several services at once):
    with `partitions` each, or `locality_partitions` for per-locality topics when it is given
    (topic_partitions). An existing topic keeps the partitions it has unless `grow` (the
    admin's step, `tongban kafka-acls --apply` and the launcher): then one with fewer than
    planned is raised to the plan (CreatePartitions). A key's records written after the raise
    may go to another partition than its earlier ones, so it is done before the services start.
    Returns the topics raised, with their new count."""
    plan = topic_plan(topics, partitions, locality_partitions)
    async for attempt in AsyncRetrying(
        retry=retry_if_exception_type(KafkaConnectionError),
        wait=wait_exponential(multiplier=0.2, max=2),
        stop=stop_after_delay(30),
        reraise=True,
    ):
        with attempt:
            admin = make_admin(bootstrap_servers, security=security)
            await admin.start()
            try:
                existing = {
                    str(topic["topic"]): len(topic["partitions"])
                    for topic in await admin.describe_topics()
                }
                missing = [name for name in plan if name not in existing]
                if missing:
                    await _create(admin, missing, plan)
                raised = partitions_to_add(existing, plan) if grow else {}
                if raised:
                    await _raise_partitions(admin, raised)
                return raised
            finally:
                await admin.close()
    raise AssertionError("unreachable: AsyncRetrying reraises")  # pragma: no cover


async def _create(admin: AIOKafkaAdminClient, missing: list[str], plan: Mapping[str, int]) -> None:
    response = await admin.create_topics(
        [NewTopic(name, plan[name], 1, topic_configs=_topic_configs(name)) for name in missing]
    )
    for topic, code, *_ in response.topic_errors:
        if code == TOPIC_AUTHORIZATION_FAILED:
            # A broker with ACLs: the services may not create topics; the operator
            # creates them with the ACL table (`tongban kafka-acls --apply`).
            raise KafkaError(
                f"topic {topic} does not exist and this principal may not create "
                "it; run `tongban kafka-acls --apply` with the admin's credentials"
            )
        if code not in (0, TOPIC_ALREADY_EXISTS):
            raise KafkaError(f"cannot create topic {topic}: error code {code}")
    log.info("created %d Kafka topics", len(missing))


async def _raise_partitions(admin: AIOKafkaAdminClient, raised: Mapping[str, int]) -> None:
    try:
        await admin.create_partitions(
            {name: NewPartitions(total_count=count) for name, count in raised.items()}
        )
    except kafka_errors.InvalidPartitionsError:
        # Another admin raised them first (the topic already has as many): nothing to do.
        log.info("partitions of %s were raised already", ", ".join(raised))
        return
    log.info(
        "raised the partitions of %d Kafka topics: %s",
        len(raised),
        ", ".join(f"{name} → {count}" for name, count in raised.items()),
    )
