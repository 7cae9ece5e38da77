"""The consultation service's own database: consultations, every join and leave of their calls,
the materials verified by video (原件核验) and the calls' recordings (全过程记录)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Date, DateTime, Identity, Integer, MetaData, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    metadata = MetaData()


class ConsultationRow(Base):
    __tablename__ = "consultations"

    consultation_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    application_no: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    item_code: Mapped[str] = mapped_column(String(64))
    # A draft before acceptance: the window's own reference (no personal data).
    draft_ref: Mapped[str | None] = mapped_column(String(64), nullable=True)
    topic: Mapped[str] = mapped_column(Text)
    locality: Mapped[str] = mapped_column(String(6), index=True)  # competent: its reviewers
    window_id: Mapped[str] = mapped_column(String(32), index=True)
    window_locality: Mapped[str] = mapped_column(String(6))
    opened_by: Mapped[str] = mapped_column(String(64))
    opened_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    state: Mapped[str] = mapped_column(String(16))
    reviewer: Mapped[str | None] = mapped_column(String(64), nullable=True)
    call_started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class PresenceRow(Base):
    """Every join and leave of a call's signalling socket (also announced: the audit ledger)."""

    __tablename__ = "presence"

    presence_id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    consultation_id: Mapped[str] = mapped_column(String(36), index=True)
    action: Mapped[str] = mapped_column(String(8))  # joined | left
    side: Mapped[str] = mapped_column(String(8))
    sub: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(32))
    locality: Mapped[str] = mapped_column(String(6))
    window_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    reason: Mapped[str | None] = mapped_column(String(32), nullable=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class VerificationRow(Base):
    """原件核验 by video: a material whose original the reviewer saw in the call."""

    __tablename__ = "verifications"

    verification_id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    consultation_id: Mapped[str] = mapped_column(String(36), index=True)
    material_code: Mapped[str] = mapped_column(String(32))
    note: Mapped[str] = mapped_column(Text)
    verified_by: Mapped[str] = mapped_column(String(64))
    verified_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class RecordingRow(Base):
    """A call's recording in the blob store (by its SHA-256), with its SM3 digest."""

    __tablename__ = "recordings"

    consultation_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    blob_sha256: Mapped[str] = mapped_column(String(64))
    sm3: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    duration_seconds: Mapped[int] = mapped_column(Integer)
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    retained_until: Mapped[date] = mapped_column(Date, index=True)
    removed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
