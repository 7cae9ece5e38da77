"""The Kafka consumer runner every service uses.

For each record: read the CloudEvent, continue the producer's trace, record (consumer, event id)
in the inbox and apply the handler's effect (which may add outbox events) in the same database
transaction. The records of one fetch share ONE transaction: their inbox rows and effects commit
together, in order, each record seeing the effects of those before it as it would alone (the
same event twice in a fetch finds its own inbox row and is a duplicate). A transaction per
record would cost a BEGIN and a COMMIT per record, and routing's ledger a lock per entry. When a
record fails in a batch, the batch is rolled back and redone up to that record, which is then
handled alone in transactions of its own, with today's retries and dead letter.

Offsets are committed after the transactions of the records they pass have committed, at most
every COMMIT_INTERVAL_SECONDS while records keep coming, at once when a fetch comes back empty,
and when the runner stops: a crash in between redelivers records whose effects are already
there, and each finds its inbox row and does nothing. Transient failures retry with backoff;
a record that cannot be read, or keeps failing, goes to `<topic>.dlq` with the error in its
headers, and the runner moves on to the next record. What a handler says (a refusal's message
in a dead letter, a log line) is for operators: English, whatever language the process would
otherwise speak.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

from aiokafka import AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError
from opentelemetry import propagate
from opentelemetry.trace import SpanKind, Status, StatusCode
from sqlalchemy import bindparam, delete
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_not_exception_type,
    stop_after_delay,
    wait_exponential,
)

from shared.db import Database
from shared.db.messaging_tables import inbox
from shared.errors import DomainError
from shared.i18n import ENGLISH, use_locale
from shared.messaging.coordinator import wait_for_group_coordinator
from shared.messaging.envelope import Envelope, EnvelopeError
from shared.messaging.handling import (
    Delivery,
    EventContext,
    Failure,
    Handler,
    NotYet,
    Outcome,
    PermanentError,
    is_outage,
)
from shared.messaging.kafka import KafkaSecurity, make_consumer
from shared.messaging.outbox import Outbox
from shared.messaging.signing import EventVerifier
from shared.messaging.topics import dead_letter
from shared.metrics import ConsumerMetrics, ServiceMetrics
from shared.telemetry import Telemetry, mask_personal_data

# What handlers import from here: defined in shared.messaging.handling.
__all__ = [
    "ConsumerRunner",
    "EventContext",
    "Handler",
    "NotYet",
    "Outcome",
    "PermanentError",
    "is_outage",
]

log = logging.getLogger(__name__)

# How often a busy runner commits its offsets. Every fetch's commit cost a round trip on the
# hot path and an append to the broker's offsets log per batch, most of them batches of one
# record at a modest rate. A crash loses at most this much of commits: those records come
# again, and each finds its inbox row (their effects committed before their offsets, as ever).
COMMIT_INTERVAL_SECONDS = 0.5

# The inbox rows of handled events, one statement for a batch's (executed with a list of rows,
# SQLAlchemy sends them as one multi-row INSERT), built once: building a statement for every
# record costs more CPU than PostgreSQL spends on the row. A row already there returns nothing.
_CLAIM = (
    insert(inbox)
    .values(
        consumer=bindparam("consumer"),
        event_id=bindparam("event_id"),
        event_type=bindparam("event_type"),
    )
    .on_conflict_do_nothing()
    .returning(inbox.c.event_id)
)
_UNCLAIM = delete(inbox).where(
    inbox.c.consumer == bindparam("consumer"),
    inbox.c.event_id.in_(bindparam("ids", expanding=True)),
)


class ConsumerRunner:
    def __init__(
        self,
        *,
        name: str,
        topics: Sequence[str],
        handlers: Mapping[str, Handler],
        db: Database,
        outbox: Outbox,
        producer: AIOKafkaProducer,
        telemetry: Telemetry,
        bootstrap_servers: str,
        group_id: str | None = None,
        max_attempts: int = 4,
        backoff_seconds: float = 0.2,
        wait_for_facts_seconds: float = 30.0,
        verifier: EventVerifier | None = None,
        security: KafkaSecurity | None = None,
        metrics: ServiceMetrics | None = None,
        session_timeout_ms: int = 10000,
    ) -> None:
        self.name = name
        self.group_id = group_id or name
        # Every service checks what it consumes (shared.messaging.signing); only tests of the
        # runner's own mechanics leave it out.
        self.verifier = verifier
        self.topics = list(topics)
        self.handlers = handlers  # as given: a catch-all (channels.EveryType) answers every type
        self.db = db
        self.outbox = outbox
        self.producer = producer
        self.telemetry = telemetry
        self.max_attempts = max_attempts
        self.wait_for_facts_seconds = wait_for_facts_seconds
        self.backoff_seconds = backoff_seconds
        self._bootstrap_servers = bootstrap_servers
        self._security = security
        self._open = functools.partial(
            make_consumer,
            bootstrap_servers,
            self.topics,
            group_id=self.group_id,
            client_id=name,
            security=security,
            session_timeout_ms=session_timeout_ms,
        )
        self.consumer = self._open()
        # Outcomes, dead letters and lag of this runner (GET /metrics); None in tests of the
        # runner's own mechanics.
        self.metrics: ConsumerMetrics | None = (
            metrics.consumer(name, self.group_id) if metrics is not None else None
        )

    async def start(self) -> None:
        await wait_for_group_coordinator(
            self._bootstrap_servers, self.group_id, client_id=self.name, security=self._security
        )
        await self.consumer.start()

    async def stop(self) -> None:
        await self.consumer.stop()

    async def reopen(self) -> None:
        """A fresh Kafka consumer in place of this one, for a run that died: it rejoins the
        group and reads on from the committed offsets, so what the dead run fetched and did not
        finish comes again (and what it finished finds its inbox row)."""
        with contextlib.suppress(Exception):
            await self.consumer.stop()
        self.consumer = self._open()
        await self.consumer.start()

    async def run(self, stopping: asyncio.Event) -> None:
        """Consume until `stopping` is set; the record in hand is finished, and the offsets of
        what was handled are committed, before it returns."""
        # Offsets handled and not committed yet. Committed when a fetch comes back empty, when
        # COMMIT_INTERVAL_SECONDS passed since the last commit, and when the run ends (also by
        # an error: what was handled before it stays handled, and the rest comes back).
        handled: dict[TopicPartition, int] = {}
        committed_at = time.monotonic()
        try:
            while not stopping.is_set():
                # Returns as soon as records are there; the timeout only bounds an idle wait.
                batches = await self.consumer.getmany(timeout_ms=300, max_records=50)
                fetched = [record for records in batches.values() for record in records]
                await self._handle_fetch(fetched, stopping, handled)
                now = time.monotonic()
                if handled and (not fetched or now - committed_at >= COMMIT_INTERVAL_SECONDS):
                    await self._commit(handled)
                    handled, committed_at = {}, now
                if self.metrics is not None and self.metrics.lag_due(bool(fetched)):
                    await self._report_lag(self.metrics)
        finally:
            await self._commit(handled)

    async def _report_lag(self, metrics: ConsumerMetrics) -> None:
        """Lag per assigned partition: the broker's high watermark (as the last fetch saw it)
        minus the position the runner reads next. A partition not fetched yet is left out."""
        lags: list[tuple[TopicPartition, int]] = []
        for tp in self.consumer.assignment():
            try:
                highwater = self.consumer.highwater(tp)
                if highwater is None:
                    continue
                position = await self.consumer.position(tp)
            except Exception:
                # Reassigned meanwhile, or no position yet: the next report has it. A metric
                # never stops the runner.
                continue
            lags.append((tp, highwater - position))
        metrics.set_lag(lags)

    async def _commit(self, offsets: dict[TopicPartition, int]) -> None:
        """Commit the offsets after the handled records, of partitions still assigned to us."""
        assigned = self.consumer.assignment()
        ours = {tp: offset for tp, offset in offsets.items() if tp in assigned}
        if not ours:
            return
        try:
            await self.consumer.commit(ours)
        except CommitFailedError:
            # The group rebalanced while the batch was handled: the partitions' new owner gets
            # these records again, and the inbox turns each into a no-op.
            log.warning("%s: offsets not committed (the group rebalanced)", self.name)

    async def _handle_fetch(
        self,
        records: Sequence[ConsumerRecord[Any, Any]],
        stopping: asyncio.Event,
        handled: dict[TopicPartition, int],
    ) -> None:
        """Handle a fetch's records in order, noting in `handled` the offset after each
        partition's last finished record. Batches first, one record alone where a batch fails:
        a batch that fails at a record is rolled back, the records before it are done again as
        a batch, and that record is handled alone, its failure in the batch counted as its
        first attempt (the batch showed it exactly what it would have seen alone: the effects
        of the records before it, uncommitted). So a handler runs as often as it would with a
        transaction per record, but for the records before a failure, which run twice."""
        deliveries = [Delivery(record) for record in records]
        position, failure = 0, None
        try:
            # A use case shared with the API writes its refusals in `_()`; here an operator
            # reads them, in dead letters and logs that are searched for their English words.
            with use_locale(ENGLISH):
                while position < len(deliveries) and not stopping.is_set():
                    if failure is not None and failure.index == position:
                        await self._handle_alone(deliveries[position], failure.error)
                        finished, failure = 1, None
                    else:
                        until = failure.index if failure is not None else len(deliveries)
                        finished, failed = await self._apply_batch(
                            deliveries[position:until], stopping
                        )
                        if failed is not None:
                            failure = Failure(position + failed.index, failed.error)
                    for delivery in deliveries[position : position + finished]:
                        record = delivery.record
                        handled[TopicPartition(record.topic, record.partition)] = record.offset + 1
                    position += finished
        except BaseException as crash:
            for delivery in deliveries:
                delivery.abandon(crash)
            raise
        finally:
            # Read and not applied (the runner is stopping): they come again.
            for delivery in deliveries:
                delivery.abandon(None)

    async def _apply_batch(
        self, deliveries: Sequence[Delivery], stopping: asyncio.Event
    ) -> tuple[int, Failure | None]:
        """Apply `deliveries` in ONE transaction, in order: (how many are finished, None), or
        (0, where and why it failed) with nothing of it committed. Each record has its own
        inbox row, so the same event twice in a batch is applied once. Stops early, committing
        what it applied, once `stopping` is set."""
        for delivery in deliveries:
            await self._read(delivery)
        if all(delivery.outcome is not None for delivery in deliveries):
            return len(deliveries), None  # nothing for the database (ignored, dead-lettered)
        applied: list[tuple[Delivery, Outcome]] = []
        finished, committing = 0, False
        try:
            async with self.db.transaction() as session:
                unsettled = [delivery for delivery in deliveries if delivery.outcome is None]
                claimed = await self._claim(session, unsettled)
                for delivery in deliveries:
                    if delivery.outcome is None:
                        with delivery.current():
                            outcome = await self._apply(session, delivery, claimed)
                            applied.append((delivery, outcome))
                            # Each record's failure is its own (a constraint its rows break
                            # surfaces here, not in the next record's query), and each record
                            # reads the database afresh, as it would alone.
                            await session.flush()
                            session.expunge_all()
                    finished += 1
                    if stopping.is_set():
                        break
                if claimed:
                    # Stopped early: the rest were claimed and not applied; they come again.
                    await session.execute(_UNCLAIM, {"consumer": self.name, "ids": list(claimed)})
                committing = True
        except Exception as error:
            if committing:
                # No record to blame: each is handled alone.
                log.warning(
                    "%s: a batch's commit failed (%s); its records are handled alone",
                    self.name,
                    type(error).__name__,
                )
                return 0, Failure(0, None)
            return 0, Failure(finished, error)
        for delivery, outcome in applied:
            self._settle(delivery, outcome)
        # Stopped early: what after it was settled without the database is finished as well
        # (an unreadable record dead-lettered once, not again when it comes back).
        while finished < len(deliveries) and deliveries[finished].outcome is not None:
            finished += 1
        return finished, None

    async def _handle_alone(self, delivery: Delivery, failed: Exception | None) -> None:
        """The record in a transaction of its own, retried as `_gives_up` says, dead-lettered
        when it cannot be handled. `failed`: its first attempt's error, already made."""
        if not await self._read(delivery):
            return
        envelope = delivery.envelope
        assert envelope is not None
        attempts = 0
        with delivery.current() as span:
            try:
                async for attempt in AsyncRetrying(
                    stop=self._gives_up,
                    wait=wait_exponential(multiplier=self.backoff_seconds, max=5),
                    retry=retry_if_not_exception_type((PermanentError, DomainError)),
                    before_sleep=self._log_retry,
                    reraise=True,
                ):
                    with attempt:
                        attempts = attempt.retry_state.attempt_number
                        if failed is not None and attempts == 1:
                            raise failed
                        async with self.db.transaction() as session:
                            claimed = await self._claim(session, [delivery])
                            outcome = await self._apply(session, delivery, claimed)
            except Exception as exc:
                log.warning(
                    "%s: event %s (%s) failed after %d attempt(s): %s",
                    self.name,
                    envelope.id,
                    envelope.type,
                    attempts,
                    mask_personal_data(str(exc)),
                )
                span.record_exception(exc, attributes={"exception.message": type(exc).__name__})
                span.set_status(Status(StatusCode.ERROR, "dead-lettered"))
                await self._dead_letter(delivery.record, exc, attempts=attempts)
                self._settle(delivery, "dead_lettered")
                return
        self._settle(delivery, outcome)

    async def _read(self, delivery: Delivery) -> bool:
        """Read the record's event, once whatever the transactions it takes: True if a handler
        is to apply it; False if it is settled already (ignored, or dead-lettered unread)."""
        if delivery.span is not None:
            return delivery.outcome is None
        record = delivery.record
        headers = list(record.headers or ())
        parent = propagate.extract({k: v.decode(errors="replace") for k, v in headers[::-1]})
        delivery.span = self.telemetry.tracer.start_span(
            f"{record.topic} process",
            context=parent,
            kind=SpanKind.CONSUMER,
            attributes={
                "messaging.system": "kafka",
                "messaging.destination.name": record.topic,
                "messaging.kafka.partition": str(record.partition),
                "messaging.kafka.offset": str(record.offset),
                "messaging.consumer.group.name": self.name,
            },
        )
        with delivery.current() as span:
            try:
                envelope = Envelope.from_kafka(record.key, record.value, headers)
                span.set_attribute("messaging.message.id", envelope.id)
                span.set_attribute("cloudevents.event_type", envelope.type)
                span.set_attribute("tongban.application_no", envelope.subject)
                handler = self.handlers.get(envelope.type)
                if handler is None:
                    # Another service's fact we have no use for (or a newer version): acknowledge.
                    self._settle(delivery, "ignored")
                    return False
                if self.verifier is not None:
                    self.verifier.verify(envelope, record.topic)
                delivery.payload = envelope.payload()
            except EnvelopeError as exc:
                # Unreadable, or untrusted (UntrustedEvent): no retry can change either.
                await self._dead_letter(record, exc, attempts=0)
                span.set_status(Status(StatusCode.ERROR, "dead-lettered: unreadable"))
                self._settle(delivery, "dead_lettered")
                return False
        delivery.envelope, delivery.handler = envelope, handler
        return True

    def _settle(self, delivery: Delivery, outcome: Outcome) -> None:
        """The record's outcome is final (committed, or needing no transaction)."""
        if outcome in ("processed", "duplicate"):
            delivery.span_now().set_attribute("tongban.outcome", outcome)
        delivery.settle(outcome)
        if self.metrics is not None:
            self.metrics.consumed(delivery.record.topic, outcome)

    def _gives_up(self, state: RetryCallState) -> bool:
        # An outage of our own database or network says nothing about the event: wait it out
        # (the offset stays uncommitted meanwhile). Only failures of the event itself count
        # towards the dead letter.
        error = state.outcome.exception() if state.outcome else None
        if error is not None and is_outage(error):
            return False
        if isinstance(error, NotYet):
            # Counted in time, not attempts: the fact is usually a moment behind.
            return (state.seconds_since_start or 0.0) >= self.wait_for_facts_seconds
        return state.attempt_number >= self.max_attempts

    def _log_retry(self, state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        log.warning(
            "%s: attempt %d failed (%s); retrying",
            self.name,
            state.attempt_number,
            mask_personal_data(f"{type(error).__name__}: {error}"),
        )

    async def _claim(self, session: AsyncSession, deliveries: Sequence[Delivery]) -> set[str]:
        """Record the events in the inbox, in `session`'s transaction and one statement: the ids
        whose rows are new (the others were handled before). An id twice is claimed once."""
        rows = {
            delivery.envelope.id: {
                "consumer": self.name,
                "event_id": delivery.envelope.id,
                "event_type": delivery.envelope.type,
            }
            for delivery in deliveries
            if delivery.envelope is not None
        }
        claimed = await session.execute(_CLAIM, list(rows.values()))
        return set(claimed.scalars())

    async def _apply(self, session: AsyncSession, delivery: Delivery, claimed: set[str]) -> Outcome:
        """Apply the handler in `session`'s transaction if the event is among those `claimed`
        and not applied yet; else it is a duplicate."""
        envelope, handler = delivery.envelope, delivery.handler
        assert envelope is not None and handler is not None
        if envelope.id not in claimed:
            return "duplicate"
        claimed.discard(envelope.id)
        context = EventContext(session, envelope, self.outbox, delivery.record)
        await handler(delivery.payload, context)
        return "processed"

    async def _dead_letter(
        self, record: ConsumerRecord[Any, Any], error: BaseException, *, attempts: int
    ) -> None:
        headers = list(record.headers or ())
        headers += [
            ("dlq.error.type", type(error).__name__.encode()),
            ("dlq.error.message", mask_personal_data(str(error))[:1000].encode()),
            ("dlq.consumer", self.name.encode()),
            ("dlq.attempts", str(attempts).encode()),
            ("dlq.original.topic", record.topic.encode()),
            ("dlq.original.partition", str(record.partition).encode()),
            ("dlq.original.offset", str(record.offset).encode()),
        ]
        # Losing a dead letter would lose the record: keep trying; if the broker stays away the
        # runner stops without committing, and the record comes back after a restart.
        async for attempt in AsyncRetrying(
            wait=wait_exponential(multiplier=0.2, max=5), stop=stop_after_delay(60), reraise=True
        ):
            with attempt:
                await self.producer.send_and_wait(
                    dead_letter(record.topic), value=record.value, key=record.key, headers=headers
                )
        if self.metrics is not None:
            self.metrics.dead_lettered(record.topic, type(error).__name__)
        log.warning(
            "%s: dead-lettered %s[%d]@%d to %s",
            self.name,
            record.topic,
            record.partition,
            record.offset,
            dead_letter(record.topic),
        )
