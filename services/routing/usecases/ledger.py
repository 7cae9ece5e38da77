"""The audit ledger's use cases (its chain rules: shared.audit.ledger): the events read appended
to the chain in batches, each with routing's MAC, the head signed and published as a checkpoint
once the tail it covers holds, one application's entries looked up."""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event, insert, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction

from services.routing.db import LedgerCheckpointRow
from shared import clock
from shared.audit import ledger
from shared.audit.entries import LedgerRow, check_entries, to_sealed
from shared.audit.macs import LEDGER_MAC_KEY, EntryMacs
from shared.crypto.keyring import KeyRing, Signer
from shared.errors import Invalid
from shared.messaging import events
from shared.messaging.envelope import Envelope
from shared.messaging.outbox import Outbox, set_after_commit

log = logging.getLogger(__name__)

# The key of the transaction-scoped advisory lock on the ledger's head: whoever appends (or
# signs a checkpoint) holds it until its transaction ends, so seqs are handed out one at a time
# and each entry chains to the one committed before it, however many routing consumers and
# processes run.
LEDGER_LOCK = 0x74_62_6C_65_64_67_65_72  # "tbledger"

# Where a transaction keeps the head it holds the lock on (the session's info dict): a second
# append in the same transaction neither locks nor reads the head again.
_HEAD = "tongban.ledger.head"


@dataclass(frozen=True)
class Read:
    """Where the ledger's consumer read an event: the Kafka record's place and its bytes."""

    topic: str
    partition: int
    offset: int
    value: bytes


async def _locked_head(session: AsyncSession) -> ledger.Anchor:
    """The head of the chain, with the ledger's lock held until the transaction ends: taken and
    read once per transaction, then kept as this transaction moves it (`_moved`)."""
    sync = session.sync_session
    known: ledger.Anchor | None = sync.info.get(_HEAD)
    if known is not None:
        return known
    await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LEDGER_LOCK})
    query = select(LedgerRow.seq, LedgerRow.hash).order_by(LedgerRow.seq.desc()).limit(1)
    row = (await session.execute(query)).first()
    head = ledger.Anchor(row.seq, row.hash) if row else ledger.GENESIS
    if not event.contains(sync, "after_transaction_end", _forget_head_at_end):
        event.listen(sync, "after_transaction_end", _forget_head_at_end)
        event.listen(sync, "after_soft_rollback", _forget_head_on_rollback)
    sync.info[_HEAD] = head
    return head


def _moved(session: AsyncSession, head: ledger.Anchor) -> None:
    session.sync_session.info[_HEAD] = head


def _forget_head_at_end(session: Session, transaction: SessionTransaction) -> None:
    # The transaction ended, and its lock with it: the next one locks and reads again.
    if transaction.parent is None:
        session.info.pop(_HEAD, None)


def _forget_head_on_rollback(session: Session, transaction: SessionTransaction) -> None:
    # A savepoint rolled back takes its entries (and a lock taken inside it) with it: what was
    # kept may be ahead of the table now, so the next append locks and reads again.
    session.info.pop(_HEAD, None)


def _application_no(envelope: Envelope) -> str | None:
    number = envelope.data.get("application_no")
    return number if isinstance(number, str) and len(number) <= 32 else None


def entry_of(seq: int, envelope: Envelope, read: Read) -> ledger.Entry:
    """The ledger entry `seq` for an event read at `read`."""
    if envelope.time.tzinfo is None:
        raise Invalid.of_field("event_time_not_aware", "ce_time carries no offset.", "ce_time")
    return ledger.Entry(
        seq=seq,
        at=clock.now(),
        topic=read.topic,
        partition=read.partition,
        offset=read.offset,
        event_id=envelope.id,
        event_type=envelope.type,
        source=envelope.source,
        subject=envelope.subject,
        event_time=envelope.time,
        record_sm3=ledger.record_digest(read.value),
    )


def entry_macs(ring: KeyRing) -> EntryMacs:
    """Routing's MAC key of the ledger from its key ring (every version: a rotated key still
    checks the MACs it made). Made on first use in development only, like its other keys."""
    keys = ring.secret(LEDGER_MAC_KEY, "HMAC-SM3")
    return EntryMacs(keys.current_key, tuple(keys.keys.values()))


class TailGuard:
    """What this routing process holds about the ledger's unsigned tail outside its database:
    the MAC key, the highest seq its own committed appends reached (a checkpoint of a head below
    it would sign a chain cut after the fact), and whether every unsigned entry must carry a
    MAC (from its first checkpoint on: entries appended before the MACs, by an older routing,
    are all checkpointed by then)."""

    def __init__(self, macs: EntryMacs) -> None:
        self.macs = macs
        self.appended_head = 0
        self.macs_required = False

    def appended(self, session: AsyncSession, head_seq: int) -> None:
        """Note `head_seq` as reached once the session's transaction commits."""
        sync = session.sync_session
        if not event.contains(sync, "after_commit", _appended_committed):
            event.listen(sync, "after_commit", _appended_committed)
            event.listen(sync, "after_transaction_end", _forget_appended_at_end)
            event.listen(sync, "after_soft_rollback", _forget_appended_on_rollback)
        sync.info[_APPENDED] = (self, head_seq)


# Where a transaction keeps the guard and the seq its appends reached, until it commits.
_APPENDED = "tongban.ledger.appended"


def _appended_committed(session: Session) -> None:
    noted = session.info.pop(_APPENDED, None)
    if noted is not None:
        guard, seq = noted
        guard.appended_head = max(guard.appended_head, seq)


def _forget_appended_at_end(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        session.info.pop(_APPENDED, None)


def _forget_appended_on_rollback(session: Session, transaction: SessionTransaction) -> None:
    # A savepoint rolled back may have taken the last entries noted: noting less is safe (the
    # guard only refuses heads below what it knows was committed).
    session.info.pop(_APPENDED, None)


def row_of(sealed: ledger.Sealed, envelope: Envelope) -> dict[str, Any]:
    """The ledger table's columns of a sealed entry (format 2: no signature of its own)."""
    entry = sealed.entry
    return {
        "seq": entry.seq,
        "at": entry.at,
        "topic": entry.topic,
        "kafka_partition": entry.partition,
        "kafka_offset": entry.offset,
        "event_id": entry.event_id,
        "event_type": entry.event_type,
        "source": entry.source,
        "subject": entry.subject,
        "event_time": entry.event_time,
        "application_no": _application_no(envelope),
        "record_sm3": entry.record_sm3,
        "prev_hash": sealed.prev_hash,
        "hash": sealed.hash,
        "signer": None,
        "signature": None,
        "mac": sealed.mac,
    }


async def append_many(
    session: AsyncSession,
    reads: Sequence[tuple[Envelope, Read]],
    guard: TailGuard,
) -> list[ledger.Sealed]:
    """Append events to the chain, in order, in the caller's transaction (the consumer's, with
    its inbox rows): the lock taken and the head read once for the whole list (and not again by
    a later append in the same transaction), each entry hashed onto the one before it, all of
    them inserted in one statement. An event already in the ledger (the same event id read
    again, e.g. after its inbox row was pruned and the topic replayed, or twice in `reads`) is
    skipped. Entries are not signed one by one: each carries routing's MAC (`guard`), and the
    next checkpoint signs the head they lead to (checkpoint_ledger). Returns the entries
    appended."""
    if not reads:
        return []
    head = await _locked_head(session)
    if len(reads) == 1:
        return await _append_one(session, *reads[0], head, guard)
    ids = {envelope.id for envelope, _ in reads}
    known = select(LedgerRow.event_id).where(LedgerRow.event_id.in_(ids))
    seen = set((await session.scalars(known)).all())
    appended: list[ledger.Sealed] = []
    rows: list[dict[str, Any]] = []
    for envelope, read in reads:
        if envelope.id in seen:
            continue
        seen.add(envelope.id)
        sealed = ledger.seal(entry_of(head.seq + 1, envelope, read), head.hash, macs=guard.macs)
        head = ledger.Anchor(sealed.seq, sealed.hash)
        appended.append(sealed)
        rows.append(row_of(sealed, envelope))
    if rows:
        await session.execute(_INSERT, rows)
        _moved(session, head)
        guard.appended(session, head.seq)
    return appended


# The table's own INSERT, not the ORM's: no ORM object is made or tracked for an entry.
_TABLE = LedgerRow.metadata.tables[LedgerRow.__tablename__]
_INSERT = insert(_TABLE)
# One entry, unless its event is in the ledger already (`event_id` is unique): the known ids
# and the insert in one statement, for the consumer that appends record after record.
_INSERT_NEW = (
    pg_insert(_TABLE)
    .on_conflict_do_nothing(index_elements=[_TABLE.c.event_id])
    .returning(_TABLE.c.seq)
)


async def _append_one(
    session: AsyncSession, envelope: Envelope, read: Read, head: ledger.Anchor, guard: TailGuard
) -> list[ledger.Sealed]:
    # Sealed onto the head before the insert says whether it went in; if it did not (the event
    # was appended before), the head stays where it was and the entry made is dropped. The
    # ledger's lock is held, so no other appender can take the seq meanwhile.
    sealed = ledger.seal(entry_of(head.seq + 1, envelope, read), head.hash, macs=guard.macs)
    if (await session.execute(_INSERT_NEW, row_of(sealed, envelope))).first() is None:
        return []
    _moved(session, ledger.Anchor(sealed.seq, sealed.hash))
    guard.appended(session, sealed.seq)
    return [sealed]


async def append_to_ledger(
    session: AsyncSession, envelope: Envelope, read: Read, guard: TailGuard
) -> ledger.Sealed | None:
    """Append one event to the chain (append_many of one); None if the event is in the ledger
    already."""
    appended = await append_many(session, [(envelope, read)], guard)
    return appended[0] if appended else None


class CheckpointSchedule:
    """When routing signs its next checkpoint: every `ledger_checkpoint_seconds` (the periodic
    job), and as soon as `entries` more were appended since the head the last checkpoint run
    looked at, whichever comes first. Entries after the latest checkpoint are held by the chain
    alone; this keeps that unsigned tail short however fast the ledger grows. `due` is set once
    a transaction that appended past the mark has committed (a rollback wakes nobody)."""

    def __init__(self, entries: int) -> None:
        self.entries = entries
        self.looked_at = 0
        self.due = asyncio.Event()

    def appended(self, session: AsyncSession, head_seq: int) -> None:
        if head_seq - self.looked_at >= self.entries:
            set_after_commit(session, self.due)

    def looked(self, head_seq: int) -> None:
        self.looked_at = max(self.looked_at, head_seq)


async def checkpoint_ledger(
    session: AsyncSession,
    outbox: Outbox,
    signer: Signer,
    guard: TailGuard,
    schedule: CheckpointSchedule | None = None,
) -> LedgerCheckpointRow | None:
    """Sign the ledger's head and publish it on `tongban.audit.checkpoints`, if it moved since
    the last checkpoint. Routing first checks the entries since that checkpoint: it never signs
    a head that does not chain to what it signed before, an entry without its MAC (`guard`:
    rewritten by someone with the database but not the key ring), or a head below what this
    process appended (the tail cut). `schedule` is told which head this run looked at (signed
    or not), so the next count-triggered run waits for more entries."""
    head = await _locked_head(session)
    if schedule is not None:
        schedule.looked(head.seq)
    if head.seq < guard.appended_head:
        log.error(
            "audit ledger: no checkpoint signed: the chain ends at %s, but this routing "
            "appended up to entry %s (entries cut)",
            head.seq,
            guard.appended_head,
        )
        return None
    last = await session.scalar(
        select(LedgerCheckpointRow).order_by(LedgerCheckpointRow.seq.desc()).limit(1)
    )
    if head.seq == 0 or (last is not None and last.seq >= head.seq):
        return None
    verifier = ledger.ChainVerifier(
        ledger.Anchor(last.seq, last.hash) if last else ledger.GENESIS,
        macs=guard.macs,
        macs_required=guard.macs_required,
    )
    verdict = await check_entries(session, verifier)
    if not verdict.ok or verdict.head != head:
        log.error("audit ledger: no checkpoint signed: %s", verdict.problem or "entries missing")
        return None
    guard.macs_required = True
    now = clock.now()
    signature = signer.sign(ledger.head_statement(head.seq, head.hash, now))
    row = LedgerCheckpointRow(
        seq=head.seq, hash=head.hash, at=now, signer=signer.kid, signature=signature
    )
    session.add(row)
    checkpoint = events.LedgerCheckpoint(
        seq=row.seq,
        hash=row.hash,
        at=now,
        signer=row.signer,
        signature=base64.b64encode(signature).decode("ascii"),
    )
    await outbox.add(session, checkpoint)
    return row


async def ledger_of_application(session: AsyncSession, application_no: str) -> list[ledger.Sealed]:
    query = select(LedgerRow).where(LedgerRow.application_no == application_no)
    return [to_sealed(row) for row in await session.scalars(query.order_by(LedgerRow.seq))]
