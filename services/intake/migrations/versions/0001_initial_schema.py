"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-23 09:26:21.923220
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
    op.execute(sa.schema.CreateSequence(sa.Sequence("application_no_seq")))
    op.create_table(
        "applications",
        sa.Column("application_no", sa.String(length=32), nullable=False),
        sa.Column("item_code", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("applicant", sa.JSON(), nullable=False),
        sa.Column("property_locality", sa.String(length=6), nullable=True),
        sa.Column("receiving_locality", sa.String(length=6), nullable=False),
        sa.Column("window_id", sa.String(length=32), nullable=False),
        sa.Column("competent_locality", sa.String(length=6), nullable=False),
        sa.Column("department", sa.String(length=128), nullable=False),
        sa.Column("materials", sa.JSON(), nullable=False),
        sa.Column("commitments", sa.JSON(), nullable=False),
        sa.Column("deferred", sa.JSON(), nullable=False),
        sa.Column("delivery", sa.JSON(), nullable=False),
        sa.Column("promised_date", sa.Date(), nullable=False),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("accepted_by", sa.String(length=64), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("application_no"),
    )
    op.create_index(
        op.f("ix_applications_competent_locality"),
        "applications",
        ["competent_locality"],
        unique=False,
    )
    op.create_index(
        op.f("ix_applications_receiving_locality"),
        "applications",
        ["receiving_locality"],
        unique=False,
    )
    op.create_table(
        "catalog_items",
        sa.Column("item_code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("domain", sa.String(length=32), nullable=False),
        sa.Column("guide", sa.JSON(), nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("item_code"),
    )
    op.create_table(
        "idempotency_keys",
        sa.Column("window_id", sa.String(length=32), nullable=False),
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("response", sa.JSON(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("window_id", "key"),
    )
    op.create_table(
        "notices",
        sa.Column("notice_no", sa.String(length=40), nullable=False),
        sa.Column("item_code", sa.String(length=32), nullable=False),
        sa.Column("window_id", sa.String(length=32), nullable=False),
        sa.Column("receiving_locality", sa.String(length=6), nullable=False),
        sa.Column("problems", sa.JSON(), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("notice_no"),
    )
    op.create_table(
        "timeline_entries",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("application_no", sa.String(length=32), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("locality", sa.String(length=6), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["application_no"],
            ["applications.application_no"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        op.f("ix_timeline_entries_application_no"),
        "timeline_entries",
        ["application_no"],
        unique=False,
    )
    create_messaging_tables()


def downgrade() -> None:
    drop_messaging_tables()
    op.execute(sa.schema.DropSequence(sa.Sequence("application_no_seq")))
    op.drop_index(op.f("ix_timeline_entries_application_no"), table_name="timeline_entries")
    op.drop_table("timeline_entries")
    op.drop_table("notices")
    op.drop_table("idempotency_keys")
    op.drop_table("catalog_items")
    op.drop_index(op.f("ix_applications_receiving_locality"), table_name="applications")
    op.drop_index(op.f("ix_applications_competent_locality"), table_name="applications")
    op.drop_table("applications")
