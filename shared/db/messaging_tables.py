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
# them in `seq` order and stamps `sent_at`, or `parked_at` (with the reason) when the broker
# refuses one for good, so that it no longer holds back the rows after it. Sent rows are pruned
# after a retention time; unsent and parked rows never are.
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
    Column("parked_at", DateTime(timezone=True)),
    Column("park_reason", Text),
)
# What the relay reads: pending rows only, a handful at any time, however big the table.
Index(
    "ix_outbox_unsent",
    outbox.c.seq,
    postgresql_where=text("sent_at IS NULL AND parked_at IS NULL"),
)
# What operators list (and stats count): parked rows, rare.
Index("ix_outbox_parked", outbox.c.seq, postgresql_where=text("parked_at IS NOT NULL"))

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
