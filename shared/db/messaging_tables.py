"""The outbox and inbox tables that every service database carries.

They live in their own MetaData so each service's migrations create them next to its own
tables, and the shared relay and consumer runner can use them whatever the service.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Identity,
    Index,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

messaging_metadata = MetaData()

# Rows written in the same transaction as the state change they announce; the relay publishes
# them in `seq` order and stamps `sent_at`.
outbox = Table(
    "outbox",
    messaging_metadata,
    Column("seq", BigInteger, Identity(), primary_key=True),
    Column("event_id", String(64), nullable=False, unique=True),
    Column("topic", String(255), nullable=False),
    Column("key", String(128), nullable=False),
    Column("event_type", String(255), nullable=False),
    Column("source", String(255), nullable=False),
    Column("subject", String(128), nullable=False),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("payload", JSONB, nullable=False),
    # W3C trace context of the request that wrote the row, so the relay continues its trace.
    Column("traceparent", String(64)),
    Column("tracestate", Text),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("sent_at", DateTime(timezone=True)),
)
Index("ix_outbox_unsent", outbox.c.seq, postgresql_where=text("sent_at IS NULL"))

# One row per (consumer, event id) handled; inserted in the effect's transaction, so a
# redelivered event finds its row and becomes a no-op.
inbox = Table(
    "inbox",
    messaging_metadata,
    Column("consumer", String(128), nullable=False),
    Column("event_id", String(64), nullable=False),
    Column("event_type", String(255), nullable=False),
    Column("processed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("consumer", "event_id"),
)
