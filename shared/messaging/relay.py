"""The outbox relay: publish the rows `Outbox.add` wrote, in order, and keep the tables small.

`OutboxRelay` publishes unsent rows in order (idempotent producer, acks=all) and stamps them
sent in the same transaction that locked them. If it dies between the two, the rows are
published again: consumers deduplicate by event id, so that costs nothing. It waits on
`Outbox.committed` (set when a writing transaction commits), at most `poll_seconds`; the poll
finds rows another process wrote.

A row Kafka refuses for good (bigger than the broker takes, an invalid topic, a record that
cannot even be built) would be retried forever and hold back every row after it. The relay
parks it instead (`parked_at`, `park_reason`), logs it, and goes on; operators list parked rows
with `OutboxRelay.parked_rows` and put them back with `requeue_parked` once the cause is fixed.
What may pass later (the broker away, a timeout) stays unsent for the next round.

`prune` keeps the messaging tables small: sent outbox rows and old inbox rows are deleted in
short chunks (ServiceRuntime runs it on a schedule); unsent and parked rows are never deleted.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any, NamedTuple, cast

from aiokafka import AIOKafkaProducer
from opentelemetry import propagate
from opentelemetry.trace import SpanKind, Status, StatusCode
from sqlalchemy import (
    ColumnElement,
    CursorResult,
    Row,
    Table,
    and_,
    delete,
    extract,
    func,
    select,
    tuple_,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from shared.crypto.personal import PersonalData
from shared.db import Database
from shared.db.messaging_tables import inbox, outbox
from shared.messaging.envelope import Envelope
from shared.messaging.kafka import refuses_record
from shared.messaging.outbox import (
    PARK_REASON_MAX_CHARS,
    PARKED,
    PENDING,
    PRUNE_CHUNK_ROWS,
    UnbuildableRecord,
    open_payload,
)
from shared.messaging.signing import EventSigner
from shared.metrics import ServiceMetrics
from shared.telemetry import (
    Telemetry,
    context_from_traceparent,
    kafka_instrumented,
    mask_personal_data,
    suppress_instrumentation,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OutboxStats:
    pending: int  # neither sent nor parked
    parked: int
    oldest_pending_seconds: float  # age of the oldest pending row; 0 when nothing is pending


@dataclass(frozen=True)
class ParkedRow:
    seq: int
    event_id: str
    topic: str
    event_type: str
    subject: str
    parked_at: datetime
    park_reason: str


@dataclass(frozen=True)
class PruneCounts:
    outbox: int  # sent rows deleted
    inbox: int


class _Refusal(NamedTuple):
    row: Row[Any]
    reason: str


@dataclass(frozen=True)
class _Round:
    """What one round of the relay did with the rows it locked."""

    fetched: int = 0
    published: int = 0
    parked: int = 0
    held_back: int = 0  # left unsent for the next round: the producer or broker is in trouble
    hold_reason: str = ""


class OutboxRelay:
    def __init__(
        self,
        db: Database,
        producer: AIOKafkaProducer,
        telemetry: Telemetry,
        *,
        wake: asyncio.Event | None = None,
        poll_seconds: float = 5.0,
        batch_size: int = 100,
        signer: EventSigner | None = None,
        personal: PersonalData | None = None,
        metrics: ServiceMetrics | None = None,
    ) -> None:
        self.db = db
        # Events published (counted) and the backlog (read when /metrics is scraped).
        self.metrics = metrics
        if metrics is not None:
            metrics.refresh_on_scrape("outbox", self._report_stats)
        # Every service signs what it publishes (shared.messaging.signing); only tests of the
        # relay's own mechanics leave it out.
        self.signer = signer
        self.personal = personal  # opens the payloads Outbox encrypted
        self.producer = producer
        self.telemetry = telemetry
        # Set by Outbox.add's commits (Outbox.committed); without it the relay only polls.
        self.wake = wake or asyncio.Event()
        self.poll_seconds = poll_seconds
        self.batch_size = batch_size
        self.parked_total = 0  # rows this relay parked since it started

    async def run(self, stopping: asyncio.Event) -> None:
        """Publish until `stopping` is set: at once after a commit that added rows, straight on
        while full batches come back, otherwise every `poll_seconds`. A failed round is retried
        with backoff, never skipped; only what Kafka refuses for good is parked."""
        failures = 0
        while not stopping.is_set():
            # Cleared before the round reads: a commit from here on is either seen by this
            # round's query or wakes the next round.
            self.wake.clear()
            try:
                done = await self._publish_round()
            except asyncio.CancelledError:
                raise
            except Exception:
                failures += 1
                log.exception("outbox relay failed (attempt %d); retrying", failures)
                await _wait_for_any(stopping, seconds=_backoff_seconds(failures))
                continue
            if done.held_back:
                failures += 1
                log.warning(
                    "outbox relay: %d row(s) wait for the next round (attempt %d): %s",
                    done.held_back,
                    failures,
                    done.hold_reason,
                )
                await _wait_for_any(stopping, seconds=_backoff_seconds(failures))
                continue
            failures = 0
            # A commit during the round already asks for the next one: no wait to set up (two
            # tasks made and cancelled cost about 0.2 ms a round, the round itself little more).
            if done.fetched < self.batch_size and not self.wake.is_set():
                await _wait_for_any(stopping, self.wake, seconds=self.poll_seconds)

    async def publish_pending(self) -> int:
        """Publish one batch of pending rows; returns how many were published."""
        done = await self._publish_round()
        if done.held_back:
            log.warning("outbox relay: %d row(s) left unsent: %s", done.held_back, done.hold_reason)
        return done.published

    async def stats(self) -> OutboxStats:
        """Pending and parked rows, and how long the oldest pending one has waited (one query)."""
        pending_age = extract("epoch", func.now() - func.min(outbox.c.created_at))
        query = select(
            select(func.count()).select_from(outbox).where(PENDING).scalar_subquery(),
            select(func.count()).select_from(outbox).where(PARKED).scalar_subquery(),
            select(pending_age).select_from(outbox).where(PENDING).scalar_subquery(),
        )
        async with self.db.transaction() as session:
            with suppress_instrumentation():
                pending, parked, age = (await session.execute(query)).one()
        return OutboxStats(
            pending=int(pending), parked=int(parked), oldest_pending_seconds=float(age or 0)
        )

    async def _report_stats(self) -> None:
        if self.metrics is not None:
            stats = await self.stats()
            self.metrics.set_outbox(
                pending=stats.pending,
                parked=stats.parked,
                oldest_pending_seconds=stats.oldest_pending_seconds,
            )

    async def parked_rows(self, limit: int = 100) -> list[ParkedRow]:
        """The parked rows, oldest first, for operators to look into."""
        query = (
            select(
                outbox.c.seq,
                outbox.c.event_id,
                outbox.c.topic,
                outbox.c.event_type,
                outbox.c.subject,
                outbox.c.parked_at,
                outbox.c.park_reason,
            )
            .where(PARKED)
            .order_by(outbox.c.seq)
            .limit(limit)
        )
        async with self.db.transaction() as session:
            rows = (await session.execute(query)).all()
        return [ParkedRow(*row) for row in rows]

    async def requeue_parked(self, seqs: Sequence[int]) -> int:
        """Make parked rows pending again (after the cause was fixed); returns how many."""
        async with self.db.transaction() as session:
            result = await session.execute(
                update(outbox)
                .where(outbox.c.seq.in_(seqs), PARKED, outbox.c.sent_at.is_(None))
                .values(parked_at=None, park_reason=None)
            )
        self.wake.set()
        return int(cast(CursorResult[Any], result).rowcount)

    async def _publish_round(self) -> _Round:
        async with self.db.transaction() as session:
            # Polling is not part of any journey: keep it out of the traces.
            with suppress_instrumentation():
                rows = (
                    await session.execute(
                        select(outbox)
                        .where(PENDING)
                        .order_by(outbox.c.seq)
                        .limit(self.batch_size)
                        .with_for_update(skip_locked=True)
                    )
                ).all()
            if not rows:
                return _Round()
            sent, refused, held_back, hold_reason = await self._publish(rows)
            if refused:
                await self._park(session, refused)
            if sent:
                await self._mark_sent(session, [row.seq for row in sent])
        self.parked_total += len(refused)
        if self.metrics is not None:
            for row in sent:
                self.metrics.published(row.topic, row.event_type)
        for row, reason in refused:
            log.warning(
                "outbox relay: parked event %s (%s) for topic %s, which Kafka refuses: %s",
                row.event_id,
                row.event_type,
                row.topic,
                reason,
            )
        return _Round(len(rows), len(sent), len(refused), held_back, hold_reason)

    async def _publish(
        self, rows: Sequence[Row[Any]]
    ) -> tuple[list[Row[Any]], list[_Refusal], int, str]:
        """Hand the rows to the producer in order, then wait for the broker's answers.

        Returns the rows published, the rows refused for good, how many rows are held back for
        the next round, and why.
        """
        handed: list[tuple[Row[Any], asyncio.Future[Any]]] = []
        refused: list[_Refusal] = []
        for index, row in enumerate(rows):
            outcome = await self._send(row)
            if not isinstance(outcome, Exception):
                handed.append((row, outcome))
            elif _refused_for_good(outcome):
                refused.append(_Refusal(row, _reason(outcome)))
            else:
                # The producer or the broker is in trouble, not this row: the rest of the batch
                # waits with it, so that no later event overtakes it.
                held_back, hold_reason = len(rows) - index, _reason(outcome)
                break
        else:
            held_back, hold_reason = 0, ""
        # The idempotent producer keeps per-partition order; wait until the broker has all.
        answers = await asyncio.gather(*(future for _, future in handed), return_exceptions=True)
        sent: list[Row[Any]] = []
        for (row, _), answer in zip(handed, answers, strict=True):
            if not isinstance(answer, BaseException):
                sent.append(row)
            elif _refused_for_good(answer):
                refused.append(_Refusal(row, _reason(answer)))
            else:
                held_back += 1
                hold_reason = hold_reason or _reason(answer)
        return sent, refused, held_back, hold_reason

    async def _send(self, row: Row[Any]) -> asyncio.Future[Any] | Exception:
        """Hand one row to the producer: the future of its delivery, or why it was not taken."""
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
        ) as span:
            try:
                key, value, headers = _record(self._opened(row), self.signer)
                future: asyncio.Future[Any] = await self.producer.send(
                    row.topic, value=value, key=key, headers=headers
                )
            except Exception as exc:
                # The type only: a message may quote the record, and spans carry no personal data.
                span.record_exception(exc, attributes={"exception.message": type(exc).__name__})
                span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
                return exc
        return future

    def _opened(self, row: Row[Any]) -> Row[Any]:
        """The row with its payload in clear, as `_record` reads it."""
        payload = open_payload(row.payload, row.event_id, self.personal)
        if payload is row.payload:
            return row
        return cast(Row[Any], SimpleNamespace(**{**row._mapping, "payload": payload}))

    async def _park(self, session: AsyncSession, refused: Sequence[_Refusal]) -> None:
        parked_at = datetime.now(UTC)
        with suppress_instrumentation():
            for row, reason in refused:
                await session.execute(
                    update(outbox)
                    .where(outbox.c.seq == row.seq)
                    .values(parked_at=parked_at, park_reason=reason)
                )

    async def _mark_sent(self, session: AsyncSession, seqs: Sequence[int]) -> None:
        with suppress_instrumentation():
            await session.execute(
                update(outbox).where(outbox.c.seq.in_(seqs)).values(sent_at=datetime.now(UTC))
            )


def _record(
    row: Row[Any], signer: EventSigner | None = None
) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    """(key, value, headers) of the row's signed CloudEvent, with the current trace context."""
    envelope = Envelope(
        id=row.event_id,
        type=row.event_type,
        source=row.source,
        subject=row.subject,
        time=row.occurred_at,
        data=row.payload,
    )
    if signer is not None:
        # Outside the try below: a key that cannot be had (the key ring unreadable) is not the
        # record's fault; the row is held back and tried again, not parked.
        envelope = signer.sign(envelope, row.topic)
    try:
        key, value, headers = envelope.to_kafka()
    except Exception as exc:
        raise UnbuildableRecord(f"{type(exc).__name__}: {exc}") from exc
    if not kafka_instrumented():
        # The aiokafka instrumentation injects the context itself; without it, we do.
        carrier: dict[str, str] = {}
        propagate.inject(carrier)
        headers += [(k, v.encode()) for k, v in carrier.items()]
    return key, value, headers


def _refused_for_good(error: BaseException) -> bool:
    return isinstance(error, UnbuildableRecord) or refuses_record(error)


def _reason(error: BaseException) -> str:
    text = str(error)
    name = type(error).__name__
    if name not in text:
        text = f"{name}: {text}"
    return mask_personal_data(text)[:PARK_REASON_MAX_CHARS]


def _backoff_seconds(failures: int) -> float:
    return min(0.5 * 2**failures, 10.0)


async def _wait_for_any(*events: asyncio.Event, seconds: float) -> None:
    """Return when one of `events` is set, or after `seconds`."""
    waits = [asyncio.ensure_future(each.wait()) for each in events]
    try:
        await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for wait in waits:
            wait.cancel()
        await asyncio.gather(*waits, return_exceptions=True)


async def prune(
    db: Database,
    *,
    sent_before: datetime,
    inbox_before: datetime,
    chunk_rows: int = PRUNE_CHUNK_ROWS,
) -> PruneCounts:
    """Delete outbox rows sent before `sent_before` and inbox rows processed before
    `inbox_before`; returns how many of each.

    An unsent or parked outbox row is never deleted, however old: it is an event not yet
    published. The deletes go `chunk_rows` at a time, each chunk its own short transaction, so
    no statement holds many locks for long and vacuum keeps up; rows someone else has locked are
    skipped, never waited for (the next run takes them).
    """
    sent_long_ago = and_(outbox.c.sent_at.is_not(None), outbox.c.sent_at < sent_before)
    sent = await _delete_in_chunks(db, outbox, [outbox.c.seq], sent_long_ago, chunk_rows)
    handled = await _delete_in_chunks(
        db,
        inbox,
        [inbox.c.consumer, inbox.c.event_id],
        inbox.c.processed_at < inbox_before,
        chunk_rows,
    )
    return PruneCounts(outbox=sent, inbox=handled)


async def _delete_in_chunks(
    db: Database,
    table: Table,
    key: Sequence[ColumnElement[Any]],
    condition: ColumnElement[bool],
    chunk_rows: int,
) -> int:
    chunk = select(*key).where(condition).limit(chunk_rows).with_for_update(skip_locked=True)
    statement = delete(table).where(tuple_(*key).in_(chunk))
    total = 0
    while True:
        async with db.transaction() as session:
            # Housekeeping is not part of any journey: keep it out of the traces.
            with suppress_instrumentation():
                result = await session.execute(statement)
        deleted = int(cast(CursorResult[Any], result).rowcount)
        total += deleted
        if deleted < chunk_rows:
            return total
