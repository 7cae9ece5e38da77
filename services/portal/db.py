"""The portal's own database: one-time code challenges, the failures and sends that limit
sign-in, and sessions. No ID number, name or phone is stored: applicants are their ID number's
keyed digest, clients their address's keyed digest."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    DateTime,
    Identity,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy import text as sql_text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    metadata = MetaData()


class ChallengeRow(Base):
    """A code sent by SMS, as its HMAC (services.portal.domain.Challenge)."""

    __tablename__ = "otp_challenges"

    challenge_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    id_digest: Mapped[str] = mapped_column(String(64))
    client: Mapped[str] = mapped_column(String(64))
    code_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    guesses: Mapped[int] = mapped_column(SmallInteger, default=0)
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    __table_args__ = (
        Index("ix_otp_challenges_id_digest_created", "id_digest", "created_at"),
        Index("ix_otp_challenges_client_created", "client", "created_at"),
    )


class FailureRow(Base):
    """A wrong code or name, counted per ID number and per client (domain.Counts)."""

    __tablename__ = "sign_in_failures"

    failure_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    id_digest: Mapped[str] = mapped_column(String(64))
    client: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        Index("ix_sign_in_failures_id_digest_at", "id_digest", "at"),
        Index("ix_sign_in_failures_client_at", "client", "at"),
    )


class SessionRow(Base):
    """A signed-in applicant: the cookie's token is kept as its SHA-256 only."""

    __tablename__ = "sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    id_digest: Mapped[str] = mapped_column(String(64))
    level: Mapped[int] = mapped_column(SmallInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class SmsReportRow(Base):
    """The gateway's last word on a message sent (delivered or failed), by its message id; the
    reference is the sender's key (a sign-in challenge's id)."""

    __tablename__ = "sms_reports"

    message_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    reference: Mapped[str] = mapped_column(String(128), index=True)
    status: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class KnownApplicationRow(Base):
    """An application whose applicant the portal may notify: handed in online through the
    portal (it learnt the number from intake's answer), or decided for a registered resident
    (the decision carries the holder's keyed digest). The item names the materials of a
    supplement request, which carries their codes only."""

    __tablename__ = "known_applications"

    application_no: Mapped[str] = mapped_column(String(64), primary_key=True)
    id_digest: Mapped[str] = mapped_column(String(128))
    item_code: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(16))  # online | window
    known_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class RejectionNoticeRow(Base):
    """A rejection notice's number, from its announcement until the rejection that follows it
    on the same key (approval announces the notice first): the rejection's SMS cites it."""

    __tablename__ = "rejection_notices"

    application_no: Mapped[str] = mapped_column(String(64), primary_key=True)
    notice_no: Mapped[str] = mapped_column(String(64))
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class NotificationRow(Base):
    """One SMS per fact of an application: (application, fact, repeat) is unique, so a fact
    read twice is recorded once; the sender sends it with `reference` as the gateway's
    idempotency key. The text holds no personal data; the phone is looked up by the digest
    when sent, never stored."""

    __tablename__ = "notifications"

    notification_id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    application_no: Mapped[str] = mapped_column(String(64))
    fact: Mapped[str] = mapped_column(String(32))
    # What tells repeats of one fact apart (a second supplement request's time); "" if none.
    repeat: Mapped[str] = mapped_column(String(64))
    id_digest: Mapped[str] = mapped_column(String(128))
    text: Mapped[str] = mapped_column(Text)
    # pending -> sent -> delivered | failed (the gateway's report); refused (the gateway will
    # never take it), unreachable (no phone registered for the digest any more).
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    message_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    reported_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    __table_args__ = (
        UniqueConstraint("application_no", "fact", "repeat", name="uq_notifications_fact"),
        Index(
            "ix_notifications_pending",
            "notification_id",
            postgresql_where=sql_text("status = 'pending'"),
        ),
    )
