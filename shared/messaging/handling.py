"""What a consumer's handler gets and may raise, and the runner's record of one fetched record
on its way through (shared.messaging.consumer runs them).

A handler is called with the event's payload and an `EventContext`: the open transaction (which
it shares with the records of its fetched batch), the envelope, the service's outbox and the
Kafka record. It raises `PermanentError` (or a use case's DomainError) to refuse the event,
`NotYet` when a fact it needs has not arrived, anything else to have it retried.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Literal

from aiokafka import ConsumerRecord
from opentelemetry import trace
from opentelemetry.trace import Span
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from shared.messaging.envelope import Envelope
from shared.messaging.events import EventPayload
from shared.messaging.outbox import Outbox
from shared.telemetry import record_error

Outcome = Literal["processed", "duplicate", "ignored", "dead_lettered"]


class PermanentError(Exception):
    """Retrying cannot help (the event contradicts our state): dead-letter at once. A use case's
    DomainError (shared.errors) is treated the same way: it refuses the event, not the moment."""


class NotYet(Exception):
    """The event depends on a fact that travels on another topic and has not been read yet (an
    approval event before routing's fact that makes its locality competent): retried with
    backoff for up to the runner's `wait_for_facts_seconds`, then dead-lettered as a fact out of
    place. Whoever raises it must read that other topic in another runner, or it never comes."""


# PostgreSQL's SQLSTATEs of a server away or not ready (a prefix is a class): connection
# exceptions (08), the server shutting down or starting up (57P01 admin_shutdown, 57P02
# crash_shutdown, 57P03 cannot_connect_now: "the database system is not yet accepting
# connections" while it recovers), too many connections (53300).
OUTAGE_SQLSTATES = ("08", "57P01", "57P02", "57P03", "53300")


def _sqlstate(error: DBAPIError) -> str:
    """The SQLSTATE the driver gave, on SQLAlchemy's wrapper of asyncpg's error or on the
    asyncpg error itself."""
    for candidate in (error.orig, getattr(error.orig, "__cause__", None)):
        code = getattr(candidate, "sqlstate", None)
        if isinstance(code, str) and code:
            return code
    return ""


def is_outage(error: BaseException) -> bool:
    """The database or the network is away: nothing wrong with the event being handled."""
    if isinstance(error, DBAPIError) and (
        error.connection_invalidated or _sqlstate(error).startswith(OUTAGE_SQLSTATES)
    ):
        return True
    return isinstance(error, (OperationalError, InterfaceError, OSError, TimeoutError))


@dataclass(frozen=True)
class EventContext:
    """What a handler gets besides the event: the open transaction (shared with the other
    records of its fetched batch: a handler neither commits nor rolls it back) and the
    service's outbox."""

    session: AsyncSession
    envelope: Envelope
    outbox: Outbox
    # The Kafka record being handled (topic, partition, offset, raw value), for a handler that
    # records where an event was read (routing's audit ledger).
    record: ConsumerRecord[Any, Any]

    async def publish(self, payload: EventPayload) -> None:
        """Write `payload` into the handler's transaction, for the topic its channel says."""
        await self.outbox.add(self.session, payload)


Handler = Callable[[Any, EventContext], Awaitable[None]]


class Delivery:
    """One fetched record on its way through the runner: its processing span (one per event,
    from its reading to its outcome, however many transactions that takes) and its event,
    read once."""

    def __init__(self, record: ConsumerRecord[Any, Any]) -> None:
        self.record = record
        self.span: Span | None = None  # started when the record is read
        self.envelope: Envelope | None = None
        self.payload: EventPayload | None = None
        self.handler: Handler | None = None
        self.outcome: Outcome | None = None  # once final

    def span_now(self) -> Span:
        assert self.span is not None, "the record is read first"
        return self.span

    def current(self) -> AbstractContextManager[Span]:
        """The record's span as the current one (the handler's outbox rows and SQL continue
        its trace), left open; exceptions are recorded by the runner, by type only."""
        return trace.use_span(
            self.span_now(), record_exception=False, set_status_on_exception=False
        )

    def settle(self, outcome: Outcome) -> None:
        self.outcome = outcome
        self.span_now().end()

    def abandon(self, crash: BaseException | None) -> None:
        """The runner stops with this record read and not finished (it comes again): its span
        ends, with the error that stopped the runner if one did."""
        if self.span is None or self.outcome is not None or not self.span.is_recording():
            return
        if crash is not None:
            record_error(self.span, crash)
        self.span.end()


@dataclass(frozen=True)
class Failure:
    """Where a batch failed: the record's index in it, and its error (None: the commit)."""

    index: int
    error: Exception | None
