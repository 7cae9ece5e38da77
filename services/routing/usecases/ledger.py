"""The audit ledger's use cases (its chain rules: shared.audit.ledger): every event read
appended to the chain, the head signed and published as a checkpoint, one application's
entries looked up."""

from __future__ import annotations

import base64
import logging
from dataclasses import dataclass

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from services.routing.db import LedgerCheckpointRow
from shared import clock
from shared.audit import ledger
from shared.audit.entries import LedgerRow, check_entries, to_sealed
from shared.crypto.keyring import Signer
from shared.errors import Invalid
from shared.messaging import events
from shared.messaging.envelope import Envelope
from shared.messaging.outbox import Outbox

log = logging.getLogger(__name__)

# The key of the transaction-scoped advisory lock on the ledger's head: whoever appends (or
# signs a checkpoint) holds it until its transaction ends, so seqs are handed out one at a time
# and each entry chains to the one committed before it, however many routing consumers and
# processes run.
LEDGER_LOCK = 0x74_62_6C_65_64_67_65_72  # "tbledger"


@dataclass(frozen=True)
class Read:
    """Where the ledger's consumer read an event: the Kafka record's place and its bytes."""

    topic: str
    partition: int
    offset: int
    value: bytes


async def _lock_ledger(session: AsyncSession) -> None:
    await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LEDGER_LOCK})


async def _ledger_head(session: AsyncSession) -> LedgerRow | None:
    return await session.scalar(select(LedgerRow).order_by(LedgerRow.seq.desc()).limit(1))


def _application_no(envelope: Envelope) -> str | None:
    number = envelope.data.get("application_no")
    return number if isinstance(number, str) and len(number) <= 32 else None


async def append_to_ledger(
    session: AsyncSession, envelope: Envelope, read: Read, signer: Signer
) -> LedgerRow | None:
    """Append one event to the chain (in the consumer's transaction, with its inbox row); None
    if the event is in the ledger already (the same event id read again, e.g. after the inbox
    row was pruned and the topic replayed)."""
    if envelope.time.tzinfo is None:
        raise Invalid.of_field("event_time_not_aware", "ce_time carries no offset.", "ce_time")
    await _lock_ledger(session)
    known = select(LedgerRow.seq).where(LedgerRow.event_id == envelope.id)
    if await session.scalar(known) is not None:
        return None
    head = await _ledger_head(session)
    entry = ledger.Entry(
        seq=(head.seq if head else 0) + 1,
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
    sealed = ledger.seal(
        entry,
        head.hash if head else ledger.GENESIS_HASH,
        lambda message: (signer.kid, signer.sign(message)),
    )
    row = LedgerRow(
        seq=entry.seq,
        at=entry.at,
        topic=entry.topic,
        kafka_partition=entry.partition,
        kafka_offset=entry.offset,
        event_id=entry.event_id,
        event_type=entry.event_type,
        source=entry.source,
        subject=entry.subject,
        event_time=entry.event_time,
        application_no=_application_no(envelope),
        record_sm3=entry.record_sm3,
        prev_hash=sealed.prev_hash,
        hash=sealed.hash,
        signer=sealed.signer,
        signature=sealed.signature,
    )
    session.add(row)
    await session.flush()
    return row


async def checkpoint_ledger(
    session: AsyncSession, outbox: Outbox, signer: Signer
) -> LedgerCheckpointRow | None:
    """Sign the ledger's head and publish it on `tongban.audit.checkpoints`, if it moved since
    the last checkpoint. Routing first checks the entries since that checkpoint: it never signs
    a head that does not chain to what it signed before."""
    await _lock_ledger(session)
    head = await _ledger_head(session)
    last = await session.scalar(
        select(LedgerCheckpointRow).order_by(LedgerCheckpointRow.seq.desc()).limit(1)
    )
    if head is None or (last is not None and last.seq >= head.seq):
        return None
    verifier = ledger.ChainVerifier(ledger.Anchor(last.seq, last.hash) if last else ledger.GENESIS)
    verdict = await check_entries(session, verifier)
    if not verdict.ok or verdict.head.seq < head.seq:
        log.error("audit ledger: no checkpoint signed: %s", verdict.problem or "entries missing")
        return None
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
