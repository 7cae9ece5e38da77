"""Transactional outbox: write events with the state change, publish them afterwards.

`Outbox.add` runs inside the caller's transaction, so an event exists exactly when the change it
announces was committed; `shared.messaging.relay.OutboxRelay` publishes the rows afterwards.

Events move on commit. `Outbox.add` has the session set `Outbox.committed` once its transaction
commits (never on a rollback), and the relay waits on that event, at most `poll_seconds`. This
wake-up stays in the process instead of going through PostgreSQL's LISTEN/NOTIFY: NOTIFY costs a
round trip in every writing transaction and takes a database-wide lock at commit that serialises
all notifying commits; and every process that writes outbox rows runs its own relay
(`shared.runtime.ServiceRuntime`), so none of our rows waits for a poll. Rows written by another
process (a script, a replica that died before publishing) are still found by the fallback poll.

Payloads are encrypted at rest when the outbox is given the service's `PersonalData` (every
service's runtime does): the row's `payload` is `{"encrypted": <token>}` (SM4-GCM, bound to
the event id), and the relay opens it just before it builds the record (`open_payload`). A row
written without one (tests, scripts) stays in clear and is published as it is.
"""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import (
    and_,
    bindparam,
    event,
    insert,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction
from sqlalchemy.sql.dml import Insert

from shared.crypto.keyring import KeyRingError
from shared.crypto.personal import DecryptionFailed, PersonalData, place
from shared.db.messaging_tables import outbox
from shared.messaging.channels import topic_of
from shared.messaging.envelope import Envelope
from shared.messaging.events import EventPayload
from shared.telemetry import (
    current_traceparent,
)

# Rows the relay still has to publish: neither sent nor parked (the partial index ix_outbox_unsent).
PENDING = and_(outbox.c.sent_at.is_(None), outbox.c.parked_at.is_(None))
PARKED = outbox.c.parked_at.is_not(None)
PARK_REASON_MAX_CHARS = 1000
# Rows per DELETE when pruning: each chunk is a short transaction of its own.
PRUNE_CHUNK_ROWS = 5000


class Outbox:
    """Writes events into the current transaction, stamped with this service as their source.

    `committed` is set whenever a transaction that added rows has committed: the relay of the
    process waits on it (pass one in to share it, or give `committed` to the relay).
    """

    def __init__(
        self,
        source: str,
        *,
        committed: asyncio.Event | None = None,
        personal: PersonalData | None = None,
    ) -> None:
        self.source = source
        self.committed = committed or asyncio.Event()
        # The service's personal-data cipher: rows are written encrypted with it, and the
        # service's consumers reach it here (EventContext.outbox).
        self.personal = personal

    def personal_data(self) -> PersonalData:
        """The cipher, for a service that stores personal data (every service does; only
        tests of the outbox's own mechanics build one without)."""
        if self.personal is None:
            raise RuntimeError(
                f"{self.source} stores personal data encrypted: its outbox needs PersonalData"
            )
        return self.personal

    async def add(self, session: AsyncSession, payload: EventPayload) -> Envelope:
        """Write the event into the session's transaction, for the topic its channel says
        (shared.messaging.channels); the relay wakes once it commits. An event the channel table
        cannot place raises `NoTopic` before anything is written."""
        envelope, row = self.row_for(payload)
        await session.execute(_INSERT_ROW, row)
        set_after_commit(session, self.committed)
        return envelope

    def row_for(self, payload: EventPayload) -> tuple[Envelope, dict[str, Any]]:
        """The outbox row of an event, as the parameters of `insert_row()`: for a caller that
        writes it as part of one larger statement (Database.execute_atomically), and then calls
        `written()`."""
        topic = self.topic_of(payload)
        envelope = Envelope.new(payload, source=self.source)
        traceparent, tracestate = current_traceparent()
        row = {
            "event_id": envelope.id,
            "topic": topic,
            "key": envelope.key,
            "event_type": envelope.type,
            "source": envelope.source,
            "subject": envelope.subject,
            "occurred_at": envelope.time,
            "payload": seal_payload(envelope.data, envelope.id, self.personal),
            "traceparent": traceparent,
            "tracestate": tracestate,
        }
        return envelope, row

    def topic_of(self, payload: EventPayload) -> str:
        """Where `payload` is published: the channel table decides (tests of the relay's own
        mechanics override this to write to a topic of their own)."""
        return topic_of(payload)

    def written(self) -> None:
        """Rows written outside `add` were committed: wake the relay."""
        self.committed.set()


_ROW_COLUMNS = (
    "event_id",
    "topic",
    "key",
    "event_type",
    "source",
    "subject",
    "occurred_at",
    "payload",
    "traceparent",
    "tracestate",
)


_ENCRYPTED = "encrypted"


def seal_payload(
    payload: dict[str, Any], event_id: str, personal: PersonalData | None
) -> dict[str, Any]:
    """The payload as the outbox row keeps it: encrypted, bound to its event id."""
    if personal is None:
        return payload
    return {_ENCRYPTED: personal.encrypt_json(payload, where=place("outbox.payload", event_id))}


def open_payload(
    payload: dict[str, Any], event_id: str, personal: PersonalData | None
) -> dict[str, Any]:
    """The payload of an outbox row in clear (rows written without a cipher are in clear)."""
    if set(payload) != {_ENCRYPTED}:
        return payload
    if personal is None:
        raise UnbuildableRecord("the payload is encrypted and the relay has no key ring")
    try:
        opened: dict[str, Any] = personal.decrypt_json(
            payload[_ENCRYPTED], where=place("outbox.payload", event_id)
        )
    except (DecryptionFailed, KeyRingError) as exc:
        raise UnbuildableRecord(f"the payload does not decrypt: {type(exc).__name__}") from exc
    return opened


def insert_row(prefix: str = "") -> Insert:
    """INSERT of one outbox row whose values are bound by name (`prefix` + column): built once,
    executed with a dict from `Outbox.row_for`. Building `insert().values(literals)` for every
    event costs more CPU than the database spends on the row."""
    return insert(outbox).values(
        {name: bindparam(prefix + name, type_=outbox.c[name].type) for name in _ROW_COLUMNS}
    )


_INSERT_ROW = insert_row()


_WAKE_ON_COMMIT = "tongban.outbox.wake_on_commit"


def set_after_commit(session: AsyncSession, wake: asyncio.Event) -> None:
    """Set `wake` once the session's current transaction has committed; a rollback forgets it.

    The listeners are registered once per session and `wake` noted once per transaction, however
    many rows it adds. They run inside the commit, in the greenlet through which SQLAlchemy's
    asyncio layer runs its synchronous core: on the event loop's own thread, so setting an
    asyncio.Event there is safe (its waiters are scheduled with the loop's call_soon).
    """
    sync = session.sync_session
    if not event.contains(sync, "after_commit", _wake_after_commit):
        event.listen(sync, "after_commit", _wake_after_commit)
        event.listen(sync, "after_transaction_end", _forget_after_rollback)
    sync.info.setdefault(_WAKE_ON_COMMIT, set()).add(wake)


def _wake_after_commit(session: Session) -> None:
    # Releasing a savepoint fires after_commit too, but nothing is visible to the relay yet.
    if session.in_nested_transaction():
        return
    for wake in session.info.pop(_WAKE_ON_COMMIT, ()):
        wake.set()


def _forget_after_rollback(session: Session, transaction: SessionTransaction) -> None:
    # The outermost transaction ended. After a commit, _wake_after_commit ran first and left
    # nothing; after a rollback, its rows are gone, and so is the reason to wake anyone.
    if transaction.parent is None:
        session.info.pop(_WAKE_ON_COMMIT, None)


class UnbuildableRecord(Exception):
    """The row cannot be turned into a Kafka record at all: no retry will change that."""
