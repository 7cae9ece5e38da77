"""Dead letters for operators: list what the consumers parked on `<topic>.dlq`, look at one,
and replay it to the topic it came from.

The consumer runner (shared.messaging.consumer) writes a record it cannot handle to
`<topic>.dlq` unchanged (same key, value and headers, so the same CloudEvent id and the
producer's signature) plus `dlq.*` headers saying which consumer gave up, why, after how many
attempts, and where the record was. A replay strips the `dlq.*` headers and publishes the rest
to the original topic: every consumer of that topic reads it again, and the inboxes, keyed by
(consumer, ce_id), make it a no-op for a consumer that already handled the event, while the one
that dead-lettered it (once the cause is fixed) processes it now.

The dead-letter topics are read without a consumer group (partitions assigned, read from the
beginning to the end offsets as of the call, nothing committed), so these tools never move a
service's offsets. They need a Kafka principal that may read the `*.dlq` topics and write the
channel topics: the launcher's admin (`tongban-admin`), as KAFKA_USERNAME / KAFKA_PASSWORD.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from shared.messaging.channels import CHANNELS
from shared.messaging.kafka import client_security, make_client, make_follower, make_producer
from shared.messaging.topics import DEAD_LETTER_SUFFIX, dead_letter
from shared.reference.localities import locality_codes
from shared.settings import Settings

DLQ_HEADER_PREFIX = "dlq."
_CLIENT_ID = "tongban-dlq-tools"


class BadDeadLetterId(ValueError):
    """Not of the form `<dlq topic>:<partition>:<offset>`."""


@dataclass(frozen=True)
class DeadLetter:
    """One record of a `.dlq` topic, with what the consumer runner said about it."""

    dlq_topic: str
    partition: int
    offset: int
    original_topic: str
    original_partition: int | None
    original_offset: int | None
    key: str | None  # the application number
    event_type: str | None  # ce_type header of the original record
    event_id: str | None  # ce_id
    consumer: str | None  # dlq.consumer
    error_type: str | None  # dlq.error.type
    error_message: str | None  # dlq.error.message (masked by the runner)
    attempts: int | None
    at: datetime | None  # the dlq record's timestamp
    value: bytes
    headers: tuple[tuple[str, bytes], ...]
    # The key's bytes as they were (`key` is its text), so a replay keeps the partitioning.
    raw_key: bytes | None = None

    @property
    def id(self) -> str:
        return f"{self.dlq_topic}:{self.partition}:{self.offset}"

    @property
    def original_headers(self) -> tuple[tuple[str, bytes], ...]:
        """The headers the record had on its original topic (without the runner's dlq.*)."""
        return tuple((k, v) for k, v in self.headers if not k.startswith(DLQ_HEADER_PREFIX))

    def header(self, name: str) -> str | None:
        """The last value of header `name`, decoded (the runner appends; the last one counts)."""
        for key, raw in reversed(self.headers):
            if key == name:
                return raw.decode(errors="replace")
        return None


@dataclass(frozen=True)
class ReplayResult:
    dead_letter_id: str
    topic: str
    partition: int
    offset: int


def parse_dead_letter_id(dead_letter_id: str) -> tuple[str, int, int]:
    """`tongban.intake.events.dlq:2:17` → (topic, partition, offset); BadDeadLetterId else.
    (A Kafka topic name cannot hold ':'.)"""
    parts = dead_letter_id.strip().split(":")
    if len(parts) != 3 or not parts[0].endswith(DEAD_LETTER_SUFFIX):
        raise BadDeadLetterId(
            f"{dead_letter_id!r} is not a dead letter id (<topic>.dlq:<partition>:<offset>, "
            "as `tongban dlq list` prints it)"
        )
    try:
        partition, offset = int(parts[1]), int(parts[2])
    except ValueError:
        raise BadDeadLetterId(
            f"{dead_letter_id!r}: partition and offset must be numbers "
            "(<topic>.dlq:<partition>:<offset>)"
        ) from None
    if partition < 0 or offset < 0:
        raise BadDeadLetterId(f"{dead_letter_id!r}: partition and offset cannot be negative")
    return parts[0], partition, offset


def dead_letter_topics(localities: Iterable[str] | None = None) -> list[str]:
    """The `.dlq` topic of every channel topic (per-locality families expanded)."""
    codes = list(localities) if localities is not None else locality_codes()
    return sorted({dead_letter(topic) for channel in CHANNELS for topic in channel.topics(codes)})


def _int(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


def _from_record(record: Any) -> DeadLetter:
    headers = tuple((k, bytes(v)) for k, v in (record.headers or ()))
    raw = DeadLetter(
        dlq_topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        # The runner parks a record of topic T on T.dlq (its dlq.original.topic header says the
        # same): deriving it from where the record sits means a replay can only go back there.
        original_topic=record.topic.removesuffix(DEAD_LETTER_SUFFIX),
        original_partition=None,
        original_offset=None,
        key=record.key.decode(errors="replace") if record.key is not None else None,
        event_type=None,
        event_id=None,
        consumer=None,
        error_type=None,
        error_message=None,
        attempts=None,
        at=datetime.fromtimestamp(record.timestamp / 1000, UTC) if record.timestamp else None,
        value=bytes(record.value or b""),
        headers=headers,
        raw_key=bytes(record.key) if record.key is not None else None,
    )
    return replace(
        raw,
        original_partition=_int(raw.header("dlq.original.partition")),
        original_offset=_int(raw.header("dlq.original.offset")),
        event_type=raw.header("ce_type"),
        event_id=raw.header("ce_id"),
        consumer=raw.header("dlq.consumer"),
        error_type=raw.header("dlq.error.type"),
        error_message=raw.header("dlq.error.message"),
        attempts=_int(raw.header("dlq.attempts")),
    )


def _consumer(settings: Settings) -> AIOKafkaConsumer:
    return make_follower(
        settings.kafka_bootstrap_servers, client_id=_CLIENT_ID, security=client_security(settings)
    )


async def _dead_letter_partitions(settings: Settings) -> dict[str, list[TopicPartition]]:
    """The `.dlq` topics of the channels that exist on the broker (a consumer creates its
    topic's on first use), with their partitions, from the cluster's metadata."""
    client = make_client(settings.kafka_bootstrap_servers, security=client_security(settings))
    await client.bootstrap()
    try:
        cluster = await client.fetch_all_metadata()
    finally:
        await client.close()
    present = cluster.topics()
    return {
        topic: [TopicPartition(topic, p) for p in sorted(cluster.partitions_for_topic(topic) or ())]
        for topic in dead_letter_topics()
        if topic in present
    }


async def existing_dead_letter_topics(settings: Settings) -> list[str]:
    """The `.dlq` topics of the channels that exist on the broker."""
    return sorted(await _dead_letter_partitions(settings))


def _dlq_topic(topic: str) -> str:
    return topic if topic.endswith(DEAD_LETTER_SUFFIX) else dead_letter(topic)


async def _read(settings: Settings, partitions: list[TopicPartition]) -> list[DeadLetter]:
    """Every record of `partitions` from the beginning up to the end offsets as of now."""
    if not partitions:
        return []
    consumer = _consumer(settings)
    await consumer.start()
    try:
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        await consumer.seek_to_beginning(*partitions)
        pending = {tp for tp in partitions if await consumer.position(tp) < ends[tp]}
        # A partition read to its end offset is paused: records dead-lettered meanwhile wait
        # for the next call.
        consumer.pause(*[tp for tp in partitions if tp not in pending])
        letters: list[DeadLetter] = []
        while pending:
            batches = await consumer.getmany(*pending, timeout_ms=1000)
            for tp, records in batches.items():
                for record in records:
                    if record.offset < ends[tp]:
                        letters.append(_from_record(record))
            for tp in list(pending):
                if await consumer.position(tp) >= ends[tp]:
                    pending.discard(tp)
                    consumer.pause(tp)
        return letters
    finally:
        await consumer.stop()


def _encoded(text: str | None) -> bytes | None:
    return text.encode() if text is not None else None


def _matches(letter: DeadLetter, event_type: str | None, reason: str | None) -> bool:
    if event_type is not None and letter.event_type != event_type:
        return False
    if reason is not None:
        wanted = reason.casefold()
        return (letter.error_type is not None and letter.error_type.casefold() == wanted) or (
            letter.error_message is not None and wanted in letter.error_message.casefold()
        )
    return True


async def list_dead_letters(
    settings: Settings,
    *,
    topic: str | None = None,
    event_type: str | None = None,
    reason: str | None = None,
    limit: int = 100,
) -> list[DeadLetter]:
    """The dead letters on the broker, oldest first and the newest last (at most `limit`, the
    newest ones). `topic` is an original topic or its `.dlq`; `reason` matches the error type
    or a part of the error message (case-insensitive)."""
    existing = await _dead_letter_partitions(settings)
    if topic is not None:
        existing = {t: tps for t, tps in existing.items() if t == _dlq_topic(topic)}
    partitions = [tp for tps in existing.values() for tp in tps]
    letters = await _read(settings, partitions)
    chosen = [letter for letter in letters if _matches(letter, event_type, reason)]
    chosen.sort(key=lambda d: (d.at or datetime.min.replace(tzinfo=UTC), d.id))
    return chosen[-limit:] if limit > 0 else []


async def get_dead_letter(settings: Settings, dead_letter_id: str) -> DeadLetter:
    """One dead letter by its id; LookupError if the broker has no such record (or
    BadDeadLetterId, a ValueError, if it is not an id at all)."""
    topic, partition, offset = parse_dead_letter_id(dead_letter_id)
    existing = await _dead_letter_partitions(settings)
    if topic not in existing:
        raise LookupError(f"no dead letter {dead_letter_id}: topic {topic} does not exist")
    tp = TopicPartition(topic, partition)
    if tp not in existing[topic]:
        raise LookupError(f"no dead letter {dead_letter_id}: {topic} has no partition {partition}")
    consumer = _consumer(settings)
    await consumer.start()
    try:
        consumer.assign([tp])
        end = (await consumer.end_offsets([tp]))[tp]
        begin = (await consumer.beginning_offsets([tp]))[tp]
        if not begin <= offset < end:
            raise LookupError(f"no dead letter {dead_letter_id}: offset out of range")
        consumer.seek(tp, offset)
        while True:
            batches = await consumer.getmany(tp, timeout_ms=1000, max_records=1)
            for record in batches.get(tp, ()):
                if record.offset == offset:
                    return _from_record(record)
                if record.offset > offset:
                    # A compacted or transaction marker offset: nothing there.
                    raise LookupError(f"no dead letter {dead_letter_id}")
            if await consumer.position(tp) >= end:
                raise LookupError(f"no dead letter {dead_letter_id}")
    finally:
        await consumer.stop()


async def replay(settings: Settings, dead_letter_id: str) -> ReplayResult:
    """Publish the dead letter's original record (same key, value and headers, without the
    runner's dlq.* ones) to its original topic; where it went."""
    letter = await get_dead_letter(settings, dead_letter_id)
    return (await replay_many(settings, [letter]))[0]


async def replay_many(settings: Settings, letters: Iterable[DeadLetter]) -> list[ReplayResult]:
    """Replay dead letters already read (one producer for all), in the order given."""
    producer = make_producer(
        settings.kafka_bootstrap_servers, client_id=_CLIENT_ID, security=client_security(settings)
    )
    await producer.start()
    try:
        results = []
        for letter in letters:
            metadata = await producer.send_and_wait(
                letter.original_topic,
                value=letter.value,
                key=letter.raw_key if letter.raw_key is not None else _encoded(letter.key),
                headers=list(letter.original_headers),
            )
            results.append(
                ReplayResult(letter.id, metadata.topic, metadata.partition, metadata.offset)
            )
        return results
    finally:
        await producer.stop()
