"""The audit ledger as stored: routing's `ledger` table, and a run of its rows checked.

Routing writes the table (its migrations create it: routing's metadata is this module's, see
services.routing.db); the audit tools read the same rows from routing's database with this very
definition, so what they recompute is what routing stored.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import fields
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    DateTime,
    Integer,
    LargeBinary,
    MetaData,
    Row,
    String,
    Text,
    bindparam,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.audit import ledger


class LedgerBase(DeclarativeBase):
    metadata = MetaData()


class LedgerRow(LedgerBase):
    """One entry of the audit ledger (shared.audit.ledger): an event read from a topic,
    chained to the entry before it (and signed by routing, for entries of format 1).
    Append-only: nothing updates or deletes a row, and `tongban audit verify` proves nobody
    did."""

    __tablename__ = "ledger"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    topic: Mapped[str] = mapped_column(Text)
    kafka_partition: Mapped[int] = mapped_column(Integer)
    kafka_offset: Mapped[int] = mapped_column(BigInteger)
    event_id: Mapped[str] = mapped_column(Text, unique=True)
    event_type: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(Text)
    subject: Mapped[str] = mapped_column(Text)
    event_time: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # The application the event is about (its payload's application_no), for the audit API.
    application_no: Mapped[str | None] = mapped_column(String(32), index=True)
    record_sm3: Mapped[str] = mapped_column(String(64))
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
    # Routing's signature of the entry's head statement: entries of format 1 only (appended
    # before checkpoints took over the signing); NULL since.
    signer: Mapped[str | None] = mapped_column(String(64))
    signature: Mapped[bytes | None] = mapped_column(LargeBinary)
    # Routing's HMAC-SM3 of the entry's hash (shared.audit.ledger.EntryMacs), keyed with a
    # secret of its key ring: its guard of the tail its checkpoints have not signed yet. NULL
    # for entries appended before it (and of format 1).
    mac: Mapped[bytes | None] = mapped_column(LargeBinary)


def to_sealed(row: LedgerRow | Row[Any]) -> ledger.Sealed:
    """An entry as the chain's rules read it, from a stored row (or the same columns selected
    alone: `ENTRY_COLUMNS`, which skips building an ORM object per entry)."""
    entry = ledger.Entry(
        seq=row.seq,
        at=row.at,
        topic=row.topic,
        partition=row.kafka_partition,
        offset=row.kafka_offset,
        event_id=row.event_id,
        event_type=row.event_type,
        source=row.source,
        subject=row.subject,
        event_time=row.event_time,
        record_sm3=row.record_sm3,
    )
    return ledger.Sealed(entry, row.prev_hash, row.hash, row.signer, row.signature, row.mac)


# What an entry's check reads of its row (all but application_no): the fields of
# `ledger.Entry` in their order, then those of `ledger.Sealed` after the entry.
ENTRY_COLUMNS = tuple(
    column for column in LedgerRow.__table__.columns if column.name != "application_no"
)
_ENTRY_FIELDS = len(fields(ledger.Entry))
_PAGE = (
    select(*ENTRY_COLUMNS)
    .where(LedgerRow.seq > bindparam("after"))
    .order_by(LedgerRow.seq)
    .limit(bindparam("batch"))
)


def _sealed(values: tuple[Any, ...]) -> ledger.Sealed:
    """`to_sealed` of a row of `ENTRY_COLUMNS` as a plain tuple, by position: a named column
    read from a result row costs about as much as hashing the entry does."""
    return ledger.Sealed(ledger.Entry(*values[:_ENTRY_FIELDS]), *values[_ENTRY_FIELDS:])


def _feed(verifier: ledger.ChainVerifier, rows: list[tuple[Any, ...]]) -> None:
    for values in rows:
        if not verifier.feed(_sealed(values)):
            return


async def check_entries(
    session: AsyncSession,
    verifier: ledger.ChainVerifier,
    *,
    progress: Callable[[int], None] | None = None,
    batch: int = 5000,
) -> ledger.Verdict:
    """Feed `verifier` every stored entry after its anchor, in pages by stored seq."""
    after = verifier.anchor.seq
    while not verifier.broken:
        page = await session.execute(_PAGE, {"after": after, "batch": batch})
        rows = [tuple(row) for row in page]
        if not rows:
            break
        # Hashing and MAC checks are CPU work: in a worker thread, so requests, consumers and
        # heartbeats go on meanwhile.
        await asyncio.to_thread(_feed, verifier, rows)
        after = rows[-1][0]
        if progress is not None:
            progress(len(rows))
    return verifier.finish()


def _columns_follow_the_entry() -> None:
    names = [column.name for column in ENTRY_COLUMNS]
    renamed = {"partition": "kafka_partition", "offset": "kafka_offset"}
    entry = [renamed.get(f.name, f.name) for f in fields(ledger.Entry)]
    sealed = [f.name for f in fields(ledger.Sealed) if f.name != "entry"]
    if names != entry + sealed:
        raise RuntimeError(f"the ledger's columns {names} are not the entry's {entry + sealed}")


_columns_follow_the_entry()
