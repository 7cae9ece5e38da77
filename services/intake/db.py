"""Intake's own database: catalog versions, applications with their timeline, notices,
idempotency keys, and the replica of the certificate registry (免证办)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    CTE,
    JSON,
    BigInteger,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    MetaData,
    Sequence,
    String,
    Table,
    Text,
    bindparam,
    func,
    insert,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.sql.dml import Insert

from shared.db import Database
from shared.messaging.outbox import insert_row


class Base(DeclarativeBase):
    metadata = MetaData()


# Application numbers are taken from the sequence a block at a time (ApplicationNumbers): one
# round trip per NUMBER_BLOCK acceptances instead of one each. A process that stops leaves the
# rest of its block unused; numbers stay unique, with gaps, as a sequence's always may.
NUMBER_BLOCK = 100
application_sequence = Sequence(
    "application_no_seq", increment=NUMBER_BLOCK, metadata=Base.metadata
)


class ApplicationNumbers:
    """Hands out sequence numbers for application numbers from blocks of the database sequence."""

    def __init__(self, db: Database, block: int = NUMBER_BLOCK) -> None:
        self.db = db
        self.block = block
        self._next = 0
        self._end = 0
        self._refill = asyncio.Lock()

    async def take(self) -> int:
        while self._next >= self._end:
            async with self._refill:
                if self._next >= self._end:  # nobody refilled while we waited
                    async with self.db.engine.connect() as connection:
                        start = int(await connection.scalar(application_sequence.next_value()))
                    self._next, self._end = start, start + self.block
        number = self._next
        self._next += 1
        return number


class CatalogVersionRow(Base):
    """One published version of the catalog (通办事项清单): every item's guide (办事指南) as
    clients see it. Never changed once published; the current version is the most recently
    published one, and each application keeps the version it was accepted under."""

    __tablename__ = "catalog_versions"

    version: Mapped[str] = mapped_column(String(32), primary_key=True)
    items: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    # 一件事 (shared.reference.bundles); NULL for a version published before bundles existed.
    bundles: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON, nullable=True)
    published_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    published_by: Mapped[str] = mapped_column(String(64))


class ApplicationRow(Base):
    __tablename__ = "applications"

    application_no: Mapped[str] = mapped_column(String(32), primary_key=True)
    item_code: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(32))
    # Personal data is stored encrypted (shared.crypto.personal: a token per column, bound to the
    # column and the application number): the applicant, the delivery (postal address), the agent.
    applicant: Mapped[str] = mapped_column(Text)
    property_locality: Mapped[str | None] = mapped_column(String(6))
    receiving_locality: Mapped[str] = mapped_column(String(6), index=True)
    window_id: Mapped[str] = mapped_column(String(32))
    competent_locality: Mapped[str] = mapped_column(String(6), index=True)
    # The competent locality as routing's latest signed fact (Routed, Transferred) names it;
    # None until routing's fact is read. Approval's events count only from this locality
    # (shared.competence); `competent_locality` is intake's own resolution until then.
    routed_locality: Mapped[str | None] = mapped_column(String(6))
    # 移交 under way: the routed locality handed the case to this one (its CaseTransferred was
    # read), and routing's Transferred is still to come.
    transferring_to: Mapped[str | None] = mapped_column(String(6))
    department: Mapped[str] = mapped_column(String(128))
    materials: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    commitments: Mapped[list[str]] = mapped_column(JSON)
    # 容缺: the deferred materials still outstanding, and the day they are due.
    deferred: Mapped[list[str]] = mapped_column(JSON)
    deferred_due_on: Mapped[date | None] = mapped_column(Date)
    # 补正: what the competent locality asked for, until it is handed in.
    requested_materials: Mapped[list[str] | None] = mapped_column(JSON)
    delivery: Mapped[str] = mapped_column(Text)
    # 帮办代办: who handed in for the applicant, with the letter of authorization's scan.
    agent: Mapped[str | None] = mapped_column(Text)
    agent_name_masked: Mapped[str | None] = mapped_column(String(100))
    promised_date: Mapped[date] = mapped_column(Date)
    accepted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    accepted_by: Mapped[str] = mapped_column(String(64))
    catalog_version: Mapped[str | None] = mapped_column(String(32))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # 免证办: the materials proven by a cited certificate instead of a scan
    # ([{material_code, certificate_no, issuer_locality, item_code}]).
    certificates: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    # The trace of the request that accepted it (W3C trace id, 32 hex): the journey's events
    # carry it on, so operators follow the application in the tracing UI from here.
    trace_id: Mapped[str | None] = mapped_column(String(32))
    # 一件事: the bundle application (bundle_db.BundleRow) this is a child of; None on its own.
    bundle_no: Mapped[str | None] = mapped_column(String(32), index=True)


class CertificateRow(Base):
    """Intake's replica of the province's certificate registry (电子证照), fed by approval's
    CertificateIssued and CertificateRevoked: what an application may cite instead of a
    material (免证办). No personal data: the holder is a keyed digest of the ID number."""

    __tablename__ = "certificates"

    certificate_no: Mapped[str] = mapped_column(String(32), primary_key=True)
    issuer_locality: Mapped[str] = mapped_column(String(6))
    item_code: Mapped[str] = mapped_column(String(32))
    holder_id_digest: Mapped[str] = mapped_column(String(128))
    issued_on: Mapped[date] = mapped_column(Date)
    # None: valid without limit (长期有效).
    valid_until: Mapped[date | None] = mapped_column(Date)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_reason: Mapped[str | None] = mapped_column(Text)


class TimelineEntryRow(Base):
    __tablename__ = "timeline_entries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    application_no: Mapped[str] = mapped_column(
        ForeignKey("applications.application_no"), index=True
    )
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(32))
    locality: Mapped[str] = mapped_column(String(6))
    # The note's English source and what fills its {placeholders}, translated when read (the
    # reader's language decides). None: shown as written (entries from before, an approver's
    # reason).
    note: Mapped[str] = mapped_column(Text)
    note_params: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class ScanRow(Base):
    """A scan stored in the blob store (content-addressed): only uploaded scans may be referenced
    by an application or a supplement."""

    __tablename__ = "scans"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    content_type: Mapped[str] = mapped_column(String(32))
    uploaded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    uploaded_by: Mapped[str] = mapped_column(String(64))
    window_id: Mapped[str] = mapped_column(String(32))
    locality: Mapped[str] = mapped_column(String(6))


class ScanUploadRow(Base):
    """Which window uploaded a scan (the same bytes may be uploaded at several windows): an
    application may cite only scans its own window uploaded, and a supplement only those of its
    window or of the application itself."""

    __tablename__ = "scan_uploads"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    window_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    uploaded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class SupplementRow(Base):
    """Materials handed in after acceptance (补正, 容缺补交), at whichever window."""

    __tablename__ = "supplements"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    application_no: Mapped[str] = mapped_column(
        ForeignKey("applications.application_no"), index=True
    )
    materials: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    window_id: Mapped[str] = mapped_column(String(32))
    locality: Mapped[str] = mapped_column(String(6))
    handed_in_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    handed_in_by: Mapped[str] = mapped_column(String(64))


class NoticeRow(Base):
    """一次性告知: every problem of one attempt, kept so the applicant can be shown it again."""

    __tablename__ = "notices"

    notice_no: Mapped[str] = mapped_column(String(40), primary_key=True)
    item_code: Mapped[str] = mapped_column(String(32))
    window_id: Mapped[str] = mapped_column(String(32))
    receiving_locality: Mapped[str] = mapped_column(String(6))
    problems: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class EvaluationRow(Base):
    """好差评: the applicant's rating of one finished application, once."""

    __tablename__ = "evaluations"

    application_no: Mapped[str] = mapped_column(
        ForeignKey("applications.application_no"), primary_key=True
    )
    score: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str] = mapped_column(Text)
    item_code: Mapped[str] = mapped_column(String(32), index=True)
    window_id: Mapped[str] = mapped_column(String(32), index=True)
    receiving_locality: Mapped[str] = mapped_column(String(6), index=True)
    competent_locality: Mapped[str] = mapped_column(String(6), index=True)
    evaluated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    evaluated_by: Mapped[str] = mapped_column(String(64))


class IdempotencyKeyRow(Base):
    """The first answer to a POST, replayed when a window retries with the same key."""

    __tablename__ = "idempotency_keys"

    window_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    response: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


# --- the two writes of a submission, each ONE statement (data-modifying CTEs), built once -------
#
# Executed with Database.execute_atomically and a dict of values named `<prefix><column>`:
# the idempotency record is the statement itself, the other rows ride along as CTEs, so a retry
# with the same key fails the whole statement on the key's primary key and writes nothing.


def _insert_bound(table: Table, prefix: str, *, skip: tuple[str, ...] = ()) -> Insert:
    return insert(table).values(
        {
            column.name: bindparam(prefix + column.name, type_=column.type)
            for column in table.columns
            if column.name not in skip
        }
    )


def bound(prefix: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """`values` named for a statement built with `_insert_bound(..., prefix)`."""
    return {prefix + name: value for name, value in values.items()}


def _remembered(*writes: CTE) -> Insert:
    key = _insert_bound(IdempotencyKeyRow.__table__, "key_", skip=("created_at",))  # type: ignore[arg-type]
    return key.add_cte(*writes)


ACCEPT = _remembered(
    _insert_bound(ApplicationRow.__table__, "app_").cte("application"),  # type: ignore[arg-type]
    _insert_bound(TimelineEntryRow.__table__, "entry_", skip=("id",)).cte("first_entry"),  # type: ignore[arg-type]
    insert_row("event_").cte("announcement"),
)
ISSUE_NOTICE = _remembered(_insert_bound(NoticeRow.__table__, "notice_").cte("notice"))  # type: ignore[arg-type]
