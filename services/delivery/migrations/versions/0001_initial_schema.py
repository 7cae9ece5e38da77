"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-23 09:28:39.378375
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shared.db.migrations import create_messaging_tables, drop_messaging_tables

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "postal_dispatches",
        sa.Column("certificate_no", sa.String(length=32), nullable=False),
        sa.Column("application_no", sa.String(length=32), nullable=False),
        sa.Column("address", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("traceparent", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("certificate_no"),
        sa.UniqueConstraint("application_no"),
    )
    op.create_table(
        "print_queue",
        sa.Column("certificate_no", sa.String(length=32), nullable=False),
        sa.Column("application_no", sa.String(length=32), nullable=False),
        sa.Column("window_id", sa.String(length=32), nullable=False),
        sa.Column("locality", sa.String(length=6), nullable=False),
        sa.Column("issuer_locality", sa.String(length=6), nullable=False),
        sa.Column("item_code", sa.String(length=32), nullable=False),
        sa.Column("item_name", sa.String(length=128), nullable=False),
        sa.Column("holder_name_masked", sa.String(length=64), nullable=False),
        sa.Column("holder_id_digest", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("queued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("delivered_by", sa.String(length=64), nullable=True),
        sa.Column("traceparent", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("certificate_no"),
        sa.UniqueConstraint("application_no"),
    )
    op.create_index(op.f("ix_print_queue_window_id"), "print_queue", ["window_id"], unique=False)
    create_messaging_tables()


def downgrade() -> None:
    drop_messaging_tables()
    op.drop_index(op.f("ix_print_queue_window_id"), table_name="print_queue")
    op.drop_table("print_queue")
    op.drop_table("postal_dispatches")
