"""Routing's own database: jurisdiction rules, trust agreements, where each application went,
and the audit ledger."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Date,
    DateTime,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Text,
    func,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.audit.entries import LedgerBase


class Base(DeclarativeBase):
    # One MetaData with the audit ledger's table, defined in shared/ for the audit tools that
    # read it (shared.audit.entries): routing's migrations hold it with the rest.
    metadata = LedgerBase.metadata


class JurisdictionRuleRow(Base):
    __tablename__ = "jurisdiction_rules"

    item_code: Mapped[str] = mapped_column(String(32), primary_key=True)
    jurisdiction: Mapped[str] = mapped_column(String(16))
    competent_level: Mapped[str] = mapped_column(String(8))
    department: Mapped[str] = mapped_column(String(128))
    # The catalog version the rule comes from, and when that version was published (NULL: the
    # built-in catalog as routing wrote it at start, never announced by intake yet). A version
    # published earlier never overwrites a rule of one published later.
    catalog_version: Mapped[str | None] = mapped_column(String(32))
    catalog_published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class AgreementRow(Base):
    __tablename__ = "trust_agreements"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    grantor_locality: Mapped[str] = mapped_column(String(6), index=True)
    grantee_locality: Mapped[str] = mapped_column(String(6))
    item_codes: Mapped[list[str]] = mapped_column(JSON)
    rights: Mapped[list[str]] = mapped_column(JSON)
    valid_until: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    created_by: Mapped[str] = mapped_column(String(64))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class RoutedApplicationRow(Base):
    """Routing's verdict on each accepted application, once: `routed` to a locality's topic, or
    `unroutable` with its reason."""

    __tablename__ = "routed_applications"

    application_no: Mapped[str] = mapped_column(String(32), primary_key=True)
    item_code: Mapped[str] = mapped_column(String(32))
    outcome: Mapped[str] = mapped_column(String(16), server_default="routed")
    competent_locality: Mapped[str | None] = mapped_column(String(6), index=True)
    topic: Mapped[str | None] = mapped_column(String(128))
    reason: Mapped[str | None] = mapped_column(String(32))
    note: Mapped[str | None] = mapped_column(Text)
    routed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    department: Mapped[str | None] = mapped_column(String(128))
    # The application as accepted, kept so a transfer (移交) can hand it to another locality.
    application: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    transfers: Mapped[int] = mapped_column(Integer, default=0)


class LedgerCheckpointRow(Base):
    """A signed statement of the ledger's head, published on `tongban.audit.checkpoints`."""

    __tablename__ = "ledger_checkpoints"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    signer: Mapped[str] = mapped_column(String(64))
    signature: Mapped[bytes] = mapped_column(LargeBinary)


class LedgerVerificationRow(Base):
    """The ledger's last verification (one row): the entry verified up to, from which the next
    verification goes on (`position_*`, the genesis before any), and the last verdict as
    `GET /v1/audit/verify` answered it (`result`, shown by the console without recomputing).
    An intruder who rewinds the position only makes the next verification longer."""

    __tablename__ = "ledger_verification"

    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    position_seq: Mapped[int] = mapped_column(BigInteger)
    position_hash: Mapped[str] = mapped_column(String(64))
    verified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
