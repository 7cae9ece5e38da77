"""`tongban audit watch`: a record of routing's ledger checkpoints that routing cannot touch.

A process of its own (started by `make run` beside the services): it follows
`tongban.audit.checkpoints` from the beginning, checks each checkpoint's statement against
routing's public key, and stores every record it saw in its own database (AUDIT_WATCH_DATABASE_URL,
or DATABASE_URL with the database tongban_audit), never in routing's. `tongban audit verify`
holds routing's chain to these besides the topic: a checkpoint once seen stays evidence even if
the topic were lost. It resumes after the last record it stored.

It reads as a Kafka principal of its own (`tongban-audit-watch`), which may read that topic and
nothing else. It serves no HTTP: with `heartbeat`, it touches that file each time round its loop
(and while it waits for the topic), and its health check is the file's age (tooling.heartbeat).

Its one table is created when missing (a tool's store, not a service's schema with revisions).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import asyncpg
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    func,
    select,
)
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import DBAPIError

from shared import clock
from shared.audit import ledger
from shared.audit.checkpoints import checkpoint_of, statement_signed
from shared.crypto.keyring import KeyRing
from shared.db import Database
from shared.messaging import events, topics
from shared.messaging.envelope import Envelope, EnvelopeError
from shared.messaging.kafka import client_security, make_follower
from shared.messaging.readers import AUDIT_WATCHER
from shared.settings import Settings
from tooling import heartbeat

log = logging.getLogger(__name__)

metadata = MetaData()

# Every checkpoint record read from the topic, once (by its place in the topic), with whether
# its statement carried routing's signature.
seen_checkpoints = Table(
    "seen_checkpoints",
    metadata,
    Column("kafka_partition", Integer, primary_key=True),
    Column("kafka_offset", BigInteger, primary_key=True),
    Column("event_id", Text, nullable=False),
    Column("seq", BigInteger, nullable=False, index=True),
    Column("hash", String(64), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("signer", String(64), nullable=False),
    Column("signature", Text, nullable=False),
    Column("signature_ok", Boolean, nullable=False),
    Column("seen_at", DateTime(timezone=True), nullable=False),
)


@dataclass(frozen=True)
class Batch:
    stored: int
    refused: int


class CheckpointWatcher:
    """Follows the checkpoints topic into its own store."""

    TOPIC = topics.AUDIT_CHECKPOINTS

    def __init__(
        self, settings: Settings, *, ring: KeyRing | None = None, heartbeat: Path | None = None
    ) -> None:
        self.settings = settings
        self.ring = ring or settings.key_ring()
        self.db = Database(settings.audit_watch_database(), pool_size=1)
        self.heartbeat = heartbeat
        self.stored = 0

    def beat(self) -> None:
        """Say the loop still turns (the health check reads the file's age)."""
        if self.heartbeat is not None:
            heartbeat.beat(self.heartbeat)

    async def prepare(self) -> None:
        async with self.db.engine.begin() as connection:
            await connection.run_sync(metadata.create_all)

    async def close(self) -> None:
        await self.db.dispose()

    async def _positions(self) -> dict[int, int]:
        """Where to read on in each partition: after the last record stored."""
        query = select(
            seen_checkpoints.c.kafka_partition, func.max(seen_checkpoints.c.kafka_offset)
        ).group_by(seen_checkpoints.c.kafka_partition)
        async with self.db.transaction() as session:
            rows = (await session.execute(query)).tuples().all()
        return {partition: offset + 1 for partition, offset in rows}

    async def _follower(self) -> tuple[AIOKafkaConsumer, list[TopicPartition]]:
        consumer = make_follower(
            self.settings.kafka_bootstrap_servers,
            client_id=AUDIT_WATCHER,
            security=client_security(self.settings),
        )
        await consumer.start()
        try:
            partitions = await self._partitions(consumer)
            consumer.assign(partitions)
            positions = await self._positions()
            for tp in partitions:
                if tp.partition in positions:
                    consumer.seek(tp, positions[tp.partition])
                else:
                    await consumer.seek_to_beginning(tp)
        except BaseException:
            await consumer.stop()
            raise
        return consumer, partitions

    async def _partitions(self, consumer: AIOKafkaConsumer) -> list[TopicPartition]:
        # The topic may not exist yet (routing creates it at its start): look again.
        while True:
            # Fresh metadata of every topic. `partitions_for_topic` would read the client's own
            # cluster view, which knows only the topics it follows (none yet, for a follower
            # assigned by hand) and so could answer None for good.
            cluster = await consumer._client.fetch_all_metadata()
            found = cluster.partitions_for_topic(self.TOPIC)
            if found:
                return [TopicPartition(self.TOPIC, p) for p in sorted(found)]
            self.beat()
            await asyncio.sleep(1)

    async def store(self, records: Sequence[ConsumerRecord[bytes, bytes]]) -> Batch:
        """Check and store records read from the topic (a record stored before is not again)."""
        rows, refused = [], 0
        for record in records:
            try:
                envelope = Envelope.from_kafka(record.key, record.value, list(record.headers or ()))
                payload = envelope.payload()
            except EnvelopeError as exc:
                log.warning("unreadable record at %d@%d: %s", record.partition, record.offset, exc)
                continue
            if not isinstance(payload, events.LedgerCheckpoint):
                continue
            signed = statement_signed(self.ring, payload)
            if not signed:
                refused += 1
                log.warning("checkpoint of seq %d not signed by routing", payload.seq)
            rows.append(
                {
                    "kafka_partition": record.partition,
                    "kafka_offset": record.offset,
                    "event_id": envelope.id,
                    "seq": payload.seq,
                    "hash": payload.hash,
                    "at": payload.at,
                    "signer": payload.signer,
                    "signature": payload.signature,
                    "signature_ok": signed,
                    "seen_at": clock.now(),
                }
            )
        if rows:
            async with self.db.transaction() as session:
                await session.execute(
                    insert(seen_checkpoints).values(rows).on_conflict_do_nothing()
                )
            self.stored += len(rows)
        return Batch(len(rows), refused)

    async def run(self, stopping: asyncio.Event, *, until_end: bool = False) -> None:
        """Follow the topic until `stopping` is set (or, with `until_end`, until its current
        end is stored)."""
        consumer, partitions = await self._follower()
        try:
            end = await consumer.end_offsets(partitions) if until_end else {}
            while not stopping.is_set():
                self.beat()
                if until_end and all([await consumer.position(tp) >= end[tp] for tp in partitions]):
                    return
                batches = await consumer.getmany(timeout_ms=500, max_records=500)
                for records in batches.values():
                    await self.store(records)
        finally:
            await consumer.stop()


async def watch(
    settings: Settings,
    stopping: asyncio.Event,
    *,
    until_end: bool = False,
    heartbeat: Path | None = None,
) -> int:
    """Prepare the store and follow the topic; how many records were stored."""
    watcher = CheckpointWatcher(settings, heartbeat=heartbeat)
    try:
        await watcher.prepare()
        await watcher.run(stopping, until_end=until_end)
        return watcher.stored
    finally:
        await watcher.close()


async def stored_checkpoints(settings: Settings) -> list[ledger.Checkpoint] | None:
    """The checkpoints the watcher stored whose statement routing signed; None if there is no
    watcher's store to read (never set up here)."""
    db = Database(settings.audit_watch_database(), pool_size=1)
    query = select(seen_checkpoints).where(seen_checkpoints.c.signature_ok.is_(True))
    try:
        async with db.transaction() as session:
            rows = (await session.execute(query)).mappings().all()
    except (DBAPIError, OSError, asyncpg.PostgresError) as exc:
        log.info("no audit watcher's store to read: %s", type(exc).__name__)
        return None
    finally:
        await db.dispose()
    return [
        checkpoint_of(
            events.LedgerCheckpoint(
                seq=row["seq"],
                hash=row["hash"],
                at=row["at"],
                signer=row["signer"],
                signature=row["signature"],
            )
        )
        for row in rows
    ]
