"""Delivery's own database: the print queue at windows, hand-overs and postal dispatches, and
the replica of the province's certificate registry it prints and verifies from."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    metadata = MetaData()


class PrintJobRow(Base):
    """A certificate waiting at the receiving window (就近打证), then handed over."""

    __tablename__ = "print_queue"

    certificate_no: Mapped[str] = mapped_column(String(32), primary_key=True)
    application_no: Mapped[str] = mapped_column(String(32), unique=True)
    window_id: Mapped[str] = mapped_column(String(32), index=True)
    locality: Mapped[str] = mapped_column(String(6))
    issuer_locality: Mapped[str] = mapped_column(String(6))
    item_code: Mapped[str] = mapped_column(String(32))
    item_name: Mapped[str] = mapped_column(String(128))
    holder_name_masked: Mapped[str] = mapped_column(String(64))
    # Only a digest of the holder's ID number: enough to check it at hand-over.
    holder_id_digest: Mapped[str] = mapped_column(String(64))
    # 委托代办: the agent recorded at acceptance may collect it too (same kind of digest).
    agent_id_digest: Mapped[str | None] = mapped_column(String(64))
    agent_name_masked: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))  # waiting | delivered
    collected_by: Mapped[str | None] = mapped_column(String(16))  # applicant | agent
    queued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    delivered_by: Mapped[str | None] = mapped_column(String(64))
    traceparent: Mapped[str | None] = mapped_column(String(64))
    # 一件事: a child of this bundle application, handed over with its siblings only
    # (BundleDeliveryRow); not in the window's queue of single certificates.
    bundle_no: Mapped[str | None] = mapped_column(String(32), index=True)


class BundleDeliveryRow(Base):
    """一件事: a complete bundle's certificates, one print job and one hand-over at the
    receiving window, or one parcel by post. `members` are the approved children (intake's
    BundleCompleted); it is ready once each of them has its certificate in the print queue
    (window) or waiting to be posted (postal dispatches held for the parcel)."""

    __tablename__ = "bundle_deliveries"

    bundle_no: Mapped[str] = mapped_column(String(32), primary_key=True)
    bundle_id: Mapped[str] = mapped_column(String(32))
    window_id: Mapped[str] = mapped_column(String(32), index=True)
    locality: Mapped[str] = mapped_column(String(6))
    members: Mapped[list[str]] = mapped_column(JSON)
    # waiting | ready | delivered (window); waiting | awaiting_carrier | dispatched |
    # in_transit | delivered (postal: the parcel's PostalStatus)
    status: Mapped[str] = mapped_column(String(16))
    completed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ready_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    delivered_by: Mapped[str | None] = mapped_column(String(64))
    collected_by: Mapped[str | None] = mapped_column(String(16))
    # DeliveryMethod, known once every certificate is there (None while waiting).
    method: Mapped[str | None] = mapped_column(String(24))
    # The parcel (postal; usecases/parcels.py), as a single dispatch's: tries so far, the last
    # failure, when the dispatcher tries again, and the carrier's one tracking number.
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_error: Mapped[str | None] = mapped_column(String(200))
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    carrier: Mapped[str | None] = mapped_column(String(32))
    tracking_no: Mapped[str | None] = mapped_column(String(32), unique=True)
    dispatched_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (Index("ix_bundle_deliveries_due", "status", "next_attempt_at"),)


class PostalDispatchRow(Base):
    """A certificate to be posted (邮政寄递); the carrier integration picks these up."""

    __tablename__ = "postal_dispatches"

    certificate_no: Mapped[str] = mapped_column(String(32), primary_key=True)
    application_no: Mapped[str] = mapped_column(String(32), unique=True)
    # The postal address, encrypted (shared.crypto.personal; bound to the application number).
    address: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(24))  # PostalStatus
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    traceparent: Mapped[str | None] = mapped_column(String(64))
    # What the tracking events need from the approval, so a webhook never opens the address
    # (None on dispatches queued before migration 0007).
    receiving_locality: Mapped[str | None] = mapped_column(String(6))
    window_id: Mapped[str | None] = mapped_column(String(32))
    item_code: Mapped[str | None] = mapped_column(String(32))
    # The carrier's side (usecases/dispatch.py): tries so far, the last failure (never
    # personal data: a reason such as "timeout"), when the dispatcher tries again.
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_error: Mapped[str | None] = mapped_column(String(200))
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    carrier: Mapped[str | None] = mapped_column(String(32))
    tracking_no: Mapped[str | None] = mapped_column(String(32), unique=True)
    dispatched_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # 一件事: held for this bundle's one parcel (BundleDeliveryRow, which has the tracking
    # number); the dispatcher does not post it alone.
    bundle_no: Mapped[str | None] = mapped_column(String(32), index=True)

    __table_args__ = (Index("ix_postal_dispatches_due", "status", "next_attempt_at"),)


class CarrierEventRow(Base):
    """A tracking report the carrier's webhook brought (POST /v1/carrier/events); one per
    (tracking number, event), so a replayed webhook changes nothing."""

    __tablename__ = "carrier_events"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    tracking_no: Mapped[str] = mapped_column(String(32))
    event: Mapped[str] = mapped_column(String(16))  # picked_up | in_transit | delivered
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (UniqueConstraint("tracking_no", "event", name="uq_carrier_events_event"),)


class FailedHandoverRow(Base):
    """A hand-over the window tried and that was refused: an ID number that matched nobody, or
    an application not waiting there. Kept for supervision, and counted to stop a window from
    guessing (HANDOVER_MAX_FAILURES within HANDOVER_FAILURE_WINDOW_MINUTES)."""

    __tablename__ = "failed_handovers"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    window_id: Mapped[str] = mapped_column(String(32))
    application_no: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(String(32))
    attempted_by: Mapped[str] = mapped_column(String(64))
    attempted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (Index("ix_failed_handovers_window_at", "window_id", "attempted_at"),)


# --- the certificate registry (电子证照 and 不予许可决定书), replicated from approval ----------


class CertificateRow(Base):
    """A sealed document as issued (CertificateIssued / RejectionNoticeIssued): its content and
    the issuer's seal over it, kept to print it and to verify it for anyone who asks."""

    __tablename__ = "certificates"

    number: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(24))  # certificate | rejection_notice
    application_no: Mapped[str] = mapped_column(String(32), index=True)
    issuer_locality: Mapped[str] = mapped_column(String(6))
    item_code: Mapped[str] = mapped_column(String(32))
    item_name: Mapped[str] = mapped_column(String(128))
    # The sealed content (shared.certificates) as JSON, its holder_name encrypted
    # (shared.crypto.personal, bound to the number); the columns above and below repeat parts of
    # it for queries, and the seal is checked over both, so neither can be changed alone.
    content: Mapped[dict[str, Any]] = mapped_column(JSON)
    seal_signer: Mapped[str] = mapped_column(String(64))
    seal_signature: Mapped[str] = mapped_column(String(128))
    issued_on: Mapped[date] = mapped_column(Date)
    valid_until: Mapped[date | None] = mapped_column(Date)
    # For queries only: what a revocation says is the signed CertificateRevoked below.
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_reason: Mapped[str | None] = mapped_column(Text)
    # The issuer's CertificateRevoked as signed: the bytes its signature covers
    # (shared.messaging.signing.canonical_bytes, UTF-8), the signature and the signer's key id.
    # Verification checks them again, so a revocation cleared or changed in the database alone
    # does not make a certificate valid again.
    revocation_event: Mapped[str | None] = mapped_column(Text)
    revocation_signature: Mapped[str | None] = mapped_column(String(128))
    revocation_signer: Mapped[str | None] = mapped_column(String(64))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # Public verifications (GET /v1/certificates/{no}/verify) of this number, and the last one.
    verifications: Mapped[int] = mapped_column(BigInteger, default=0)
    last_verified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The certificate's verification code (128 random bits, made at its first print): what its
    # QR code carries besides the number, and what verification asks for, since numbers are
    # sequential. Encrypted (shared.crypto.personal, bound to the number) to print it again, and
    # its SHA-256 to look it up. None for rejection notices: they are not publicly verifiable.
    verification_code: Mapped[str | None] = mapped_column(Text)
    verification_code_digest: Mapped[str | None] = mapped_column(String(64))
    # 跨省通办: a partner province's certificate (PartnerCertificateReceived): the seal key its
    # trusted anchor names ({kid, province, public_key, revoked_at}), with which its seal is
    # checked at every print and verification (the partner's seals are not in the trust list).
    partner_seal: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class ReceivingWindowRow(Base):
    """Where an application's result is handed over or posted from (the receiving window of
    ApplicationApproved / ApplicationRejected): the clerks there may print its documents."""

    __tablename__ = "receiving_windows"

    application_no: Mapped[str] = mapped_column(String(32), primary_key=True)
    window_id: Mapped[str] = mapped_column(String(32))
    locality: Mapped[str] = mapped_column(String(6))
    delivery_method: Mapped[str] = mapped_column(String(24))


class CertificatePrintRow(Base):
    """One print of a document: who, where, when; every print after the first is a reprint."""

    __tablename__ = "certificate_prints"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    certificate_no: Mapped[str] = mapped_column(ForeignKey("certificates.number"))
    ordinal: Mapped[int] = mapped_column(Integer)
    reprint: Mapped[bool] = mapped_column(Boolean)
    printed_by: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(32))
    window_id: Mapped[str | None] = mapped_column(String(32))
    locality: Mapped[str] = mapped_column(String(6))
    printed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (UniqueConstraint("certificate_no", "ordinal"),)


class RateLimitCounterRow(Base):
    """A fixed-window counter of a rate limit (services/delivery/ratelimit.py), shared by every
    delivery process: public verifications per client address."""

    __tablename__ = "rate_limit_counters"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    hits: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class CompetenceRow(Base):
    """The competent locality of an application as routing's latest signed fact (Routed,
    Transferred) names it: approval's events count only from it (shared.competence)."""

    __tablename__ = "competence"

    application_no: Mapped[str] = mapped_column(String(32), primary_key=True)
    competent_locality: Mapped[str] = mapped_column(String(6))
    routed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # 移交 under way: the competent locality handed the case to this one, and routing's
    # Transferred is still to come.
    transferring_to: Mapped[str | None] = mapped_column(String(6))


class PartnerDeliveryRow(Base):
    """异地代收代办: an application handed over to a partner province, whose certificate comes
    back to be handed over at its receiving window or posted (routing's DeliveryExpected). The
    holder's and agent's names and ID numbers and the postal address stay sealed for delivery
    as routing sent them (opened when the certificate comes)."""

    __tablename__ = "partner_deliveries"

    application_no: Mapped[str] = mapped_column(String(32), primary_key=True)
    partner_province: Mapped[str] = mapped_column(String(2))
    competent_locality: Mapped[str] = mapped_column(String(6))
    receiving_locality: Mapped[str] = mapped_column(String(6))
    window_id: Mapped[str] = mapped_column(String(32))
    item_code: Mapped[str] = mapped_column(String(32))
    item_name: Mapped[str] = mapped_column(String(128))
    delivery_method: Mapped[str] = mapped_column(String(24))
    holder_name_masked: Mapped[str] = mapped_column(String(64))
    agent_name_masked: Mapped[str | None] = mapped_column(String(64))
    personal_data: Mapped[dict[str, Any]] = mapped_column(JSON)
    expected_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # The partner's certificate, once it came.
    certificate_no: Mapped[str | None] = mapped_column(String(32))
