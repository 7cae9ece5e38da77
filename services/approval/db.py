"""Approval's own database: review cases and their decisions, and the registry of the sealed
documents (certificates and rejection notices) they produced, and the originals of their
materials verified by video (视频核验) in the consultation service's calls."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Date,
    DateTime,
    Integer,
    MetaData,
    Sequence,
    String,
    Text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    metadata = MetaData()


certificate_sequence = Sequence("certificate_no_seq", metadata=Base.metadata)
rejection_notice_sequence = Sequence("rejection_notice_no_seq", metadata=Base.metadata)


class CaseRow(Base):
    __tablename__ = "cases"

    application_no: Mapped[str] = mapped_column(String(32), primary_key=True)
    locality: Mapped[str] = mapped_column(String(6), index=True)
    department: Mapped[str] = mapped_column(String(128))
    item_code: Mapped[str] = mapped_column(String(32))
    item_name: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(24), index=True)  # a CaseStatus
    accepted_on: Mapped[date] = mapped_column(Date)
    working_days: Mapped[int] = mapped_column(Integer)
    # Statutory deadline: `working_days` after acceptance, plus the working days paused.
    deadline: Mapped[date] = mapped_column(Date)
    # The day three quarters of the working days are used; set when the case opens.
    warning_on: Mapped[date | None] = mapped_column(Date)
    # When the scheduler announced the warning and the overdue case: each once per case.
    warned_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    overdue_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    opened_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # 补正: the clock stops on the day the supplement is requested and runs again when it comes.
    paused_on: Mapped[date | None] = mapped_column(Date)
    paused_working_days: Mapped[int] = mapped_column(Integer, default=0)
    requested_materials: Mapped[list[str] | None] = mapped_column(JSON)
    # Materials handed in after acceptance, as received: [{material_code, sha256, ...}].
    supplements: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    # 容缺: deferred materials still outstanding, when they are due, and the reminder before.
    deferred: Mapped[list[str]] = mapped_column(JSON, default=list)
    deferred_due_on: Mapped[date | None] = mapped_column(Date)
    deferred_remind_on: Mapped[date | None] = mapped_column(Date)
    deferred_reminded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Why it was approved with deferred materials outstanding (an explicit, recorded choice).
    override_reason: Mapped[str | None] = mapped_column(Text)
    transferred_to: Mapped[str | None] = mapped_column(String(6))
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    decision: Mapped[str | None] = mapped_column(String(24))
    reason: Mapped[str | None] = mapped_column(Text)
    decided_by: Mapped[str | None] = mapped_column(String(64))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    certificate_no: Mapped[str | None] = mapped_column(String(32), unique=True)
    # The routed application as received: what the approver reviews.
    application: Mapped[dict[str, Any]] = mapped_column(JSON)
    # The application's trace, so a decision days later continues the same journey.
    traceparent: Mapped[str | None] = mapped_column(String(64))


class MaterialReadRow(Base):
    """Every read of an applicant's scan by an approver: who, which, when."""

    __tablename__ = "material_reads"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    application_no: Mapped[str] = mapped_column(String(32), index=True)
    sha256: Mapped[str] = mapped_column(String(64))
    locality: Mapped[str] = mapped_column(String(6))
    read_by: Mapped[str] = mapped_column(String(64))
    read_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class CertificateRow(Base):
    """A sealed document this service issued (电子证照 or 不予许可决定书), as sealed: the content
    the seal covers, with the holder's name encrypted (`holder_name`, bound to the number), and
    whether the issuing locality revoked it since."""

    __tablename__ = "certificates"

    number: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(24))  # a DocumentKind
    application_no: Mapped[str] = mapped_column(String(32), index=True)
    locality: Mapped[str] = mapped_column(String(6), index=True)
    item_code: Mapped[str] = mapped_column(String(32))
    content: Mapped[dict[str, Any]] = mapped_column(JSON)
    seal_signer: Mapped[str] = mapped_column(String(64))
    seal_signature: Mapped[str] = mapped_column(String(128))
    issued_on: Mapped[date] = mapped_column(Date)
    valid_until: Mapped[date | None] = mapped_column(Date)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_reason: Mapped[str | None] = mapped_column(Text)
    revoked_by: Mapped[str | None] = mapped_column(String(64))


class VideoVerificationRow(Base):
    """原件核验 by video (services/consultation's gov.tongban.consultation.material_verified.v1):
    a reviewer of `locality` saw the original of a material of application `application_no` in
    video consultation `consultation_id`. Kept whether or not the case is here yet (the two
    facts come by different topics); the case shows those of its own locality and item."""

    __tablename__ = "video_verifications"

    consultation_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    material_code: Mapped[str] = mapped_column(String(32), primary_key=True)
    verified_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    application_no: Mapped[str] = mapped_column(String(32), index=True)
    locality: Mapped[str] = mapped_column(String(6))
    item_code: Mapped[str] = mapped_column(String(32))
    window_id: Mapped[str] = mapped_column(String(32))
    note: Mapped[str] = mapped_column(Text)
    verified_by: Mapped[str] = mapped_column(String(64))
    verifier_role: Mapped[str] = mapped_column(String(32))
    verifier_locality: Mapped[str] = mapped_column(String(6))


class VideoRecordingRow(Base):
    """The recording (全过程记录) of a video consultation about an application: where it is in
    the blob store and its SM3 digest, as gov.tongban.consultation.recorded.v1 announced it."""

    __tablename__ = "video_recordings"

    consultation_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    application_no: Mapped[str] = mapped_column(String(32), index=True)
    locality: Mapped[str] = mapped_column(String(6))
    blob_sha256: Mapped[str] = mapped_column(String(64))
    sm3: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    duration_seconds: Mapped[int] = mapped_column(Integer)
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    retained_until: Mapped[date] = mapped_column(Date)


class ScanRequestRow(Base):
    """跨省通办: a scan of a partner province's application, asked of that province once (the
    application travelled with the scan's SHA-256 only); who asked first, and when."""

    __tablename__ = "scan_requests"

    application_no: Mapped[str] = mapped_column(String(32), primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    partner_province: Mapped[str] = mapped_column(String(2))
    requested_by: Mapped[str] = mapped_column(String(64))
    requested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
