"""The portal's own database: one-time code challenges, the failures and sends that limit
sign-in, and sessions. No ID number, name or phone is stored: applicants are their ID number's
keyed digest, clients their address's keyed digest."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Index, Integer, MetaData, SmallInteger, String
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
