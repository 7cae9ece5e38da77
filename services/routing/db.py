"""Routing's own database: jurisdiction rules, trust agreements, where each application went."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Date, DateTime, Integer, MetaData, String, Text, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    metadata = MetaData()


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
