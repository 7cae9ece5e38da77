"""Transactional outbox: write events with the state change, publish them afterwards.

`Outbox.add` runs inside the caller's transaction, so an event exists exactly when the change it
announces was committed. `OutboxRelay` publishes unsent rows in order (idempotent producer,
acks=all) and stamps them sent in the same transaction that locked them. If it dies between the
two, the rows are published again: consumers deduplicate by event id, so that costs nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaProducer
from opentelemetry import propagate
from opentelemetry.trace import SpanKind
from sqlalchemy import Row, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from shared.db import Database
from shared.db.messaging_tables import outbox
from shared.messaging.envelope import Envelope
from shared.messaging.events import EventPayload
from shared.telemetry import (
    Telemetry,
    context_from_traceparent,
    current_traceparent,
    kafka_instrumented,
    suppress_instrumentation,
)

log = logging.getLogger(__name__)


class Outbox:
    """Writes events into the current transaction, stamped with this service as their source."""

    def __init__(self, source: str) -> None:
        self.source = source

    async def add(self, session: AsyncSession, payload: EventPayload, *, topic: str) -> Envelope:
        envelope = Envelope.new(payload, source=self.source)
        traceparent, tracestate = current_traceparent()
        await session.execute(
            insert(outbox).values(
                event_id=envelope.id,
                topic=topic,
                key=envelope.key,
                event_type=envelope.type,
                source=envelope.source,
                subject=envelope.subject,
                occurred_at=envelope.time,
                payload=envelope.data,
                traceparent=traceparent,
                tracestate=tracestate,
            )
        )
        return envelope


class OutboxRelay:
    def __init__(
        self,
        db: Database,
        producer: AIOKafkaProducer,
        telemetry: Telemetry,
        *,
        poll_seconds: float = 0.2,
        batch_size: int = 100,
    ) -> None:
        self.db = db
        self.producer = producer
        self.telemetry = telemetry
        self.poll_seconds = poll_seconds
        self.batch_size = batch_size

    async def publish_pending(self) -> int:
        """Publish one batch of unsent rows; returns how many were published."""
        async with self.db.transaction() as session:
            # Polling is not part of any journey: keep it out of the traces.
            with suppress_instrumentation():
                rows = (
                    await session.execute(
                        select(outbox)
                        .where(outbox.c.sent_at.is_(None))
                        .order_by(outbox.c.seq)
                        .limit(self.batch_size)
                        .with_for_update(skip_locked=True)
                    )
                ).all()
            if not rows:
                return 0
            sends = [await self._send(row) for row in rows]
            # The idempotent producer keeps per-partition order; wait until the broker has all.
            await asyncio.gather(*sends)
            await self._mark_sent(session, [row.seq for row in rows])
        return len(rows)

    async def _send(self, row: Row[Any]) -> asyncio.Future[Any]:
        envelope = Envelope(
            id=row.event_id,
            type=row.event_type,
            source=row.source,
            subject=row.subject,
            time=row.occurred_at,
            data=row.payload,
        )
        key, value, headers = envelope.to_kafka()
        parent = context_from_traceparent(row.traceparent, row.tracestate)
        with self.telemetry.span(
            f"{row.topic} publish",
            kind=SpanKind.PRODUCER,
            parent=parent,
            attributes={
                "messaging.system": "kafka",
                "messaging.destination.name": row.topic,
                "messaging.message.id": row.event_id,
                "cloudevents.event_type": row.event_type,
                "tongban.application_no": row.subject,
            },
        ):
            if not kafka_instrumented():
                # The aiokafka instrumentation injects the context itself; without it, we do.
                carrier: dict[str, str] = {}
                propagate.inject(carrier)
                headers += [(k, v.encode()) for k, v in carrier.items()]
            future: asyncio.Future[Any] = await self.producer.send(
                row.topic, value=value, key=key, headers=headers
            )
        return future

    async def _mark_sent(self, session: AsyncSession, seqs: Sequence[int]) -> None:
        with suppress_instrumentation():
            await session.execute(
                update(outbox).where(outbox.c.seq.in_(seqs)).values(sent_at=datetime.now(UTC))
            )

    async def run(self, stopping: asyncio.Event) -> None:
        """Publish until `stopping` is set; a failed batch is retried, never skipped."""
        failures = 0
        while not stopping.is_set():
            try:
                published = await self.publish_pending()
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception:
                failures += 1
                log.exception("outbox relay failed (attempt %d); retrying", failures)
                published = 0
                await _sleep_or_stop(stopping, min(0.5 * 2**failures, 10.0))
                continue
            if published < self.batch_size:
                await _sleep_or_stop(stopping, self.poll_seconds)


async def _sleep_or_stop(stopping: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stopping.wait(), timeout=seconds)
    except TimeoutError:
        pass
