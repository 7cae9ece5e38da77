"""The federation gateway's own database: what it is to send to partner provinces (the outbox,
kept until acknowledged) and what it received from them (the inbox, one row per message id,
with the sender's signature as proof)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Identity, Integer, String, Text, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class OutgoingRow(Base):
    """A message to a partner province, until its gateway acknowledged it (`sent_at`)."""

    __tablename__ = "federation_outbox"

    seq: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    message_id: Mapped[str] = mapped_column(String(64), unique=True)
    to_province: Mapped[str] = mapped_column(String(2))
    type: Mapped[str] = mapped_column(String(64))
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    last_error: Mapped[str | None] = mapped_column(Text)
    # The attempt the partner acknowledged: when it was signed, by which key, the signature.
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    signed_time: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    signer: Mapped[str | None] = mapped_column(String(64))
    signature: Mapped[str | None] = mapped_column(String(128))
    application_no: Mapped[str | None] = mapped_column(String(32))  # indexed (migration 0002)
    # When the audit ledger's copy (FederationMessageLogged) was published.
    logged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class IncomingRow(Base):
    """A message a partner province's gateway sent, once per message id."""

    __tablename__ = "federation_inbox"

    # Per sending province: one partner cannot take (and so suppress) another's message ids.
    from_province: Mapped[str] = mapped_column(String(2), primary_key=True)
    message_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    type: Mapped[str] = mapped_column(String(64))
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    signed_time: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    signer: Mapped[str] = mapped_column(String(64))
    signature: Mapped[str] = mapped_column(String(128))
    received_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    application_no: Mapped[str | None] = mapped_column(String(32))  # indexed (migration 0002)
    logged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
