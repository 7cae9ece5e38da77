"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-23 09:28:16.642482
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
    op.execute(sa.schema.CreateSequence(sa.Sequence("certificate_no_seq")))
    op.create_table(
        "cases",
        sa.Column("application_no", sa.String(length=32), nullable=False),
        sa.Column("locality", sa.String(length=6), nullable=False),
        sa.Column("department", sa.String(length=128), nullable=False),
        sa.Column("item_code", sa.String(length=32), nullable=False),
        sa.Column("item_name", sa.String(length=128), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("accepted_on", sa.Date(), nullable=False),
        sa.Column("working_days", sa.Integer(), nullable=False),
        sa.Column("deadline", sa.Date(), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_by", sa.String(length=64), nullable=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decision", sa.String(length=24), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("decided_by", sa.String(length=64), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("certificate_no", sa.String(length=32), nullable=True),
        sa.Column("application", sa.JSON(), nullable=False),
        sa.Column("traceparent", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("application_no"),
        sa.UniqueConstraint("certificate_no"),
    )
    op.create_index(op.f("ix_cases_locality"), "cases", ["locality"], unique=False)
    op.create_index(op.f("ix_cases_status"), "cases", ["status"], unique=False)
    create_messaging_tables()


def downgrade() -> None:
    drop_messaging_tables()
    op.execute(sa.schema.DropSequence(sa.Sequence("certificate_no_seq")))
    op.drop_index(op.f("ix_cases_status"), table_name="cases")
    op.drop_index(op.f("ix_cases_locality"), table_name="cases")
    op.drop_table("cases")
