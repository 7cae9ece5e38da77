"""initial schema: consultations, presence, verifications, recordings, outbox and inbox

Revision ID: 0001
Revises:
Create Date: 2026-12-03 05:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shared.db.migrations import add_outbox_parking, create_messaging_tables

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "consultations",
        sa.Column("consultation_id", sa.String(length=36), nullable=False),
        sa.Column("application_no", sa.String(length=64), nullable=True),
        sa.Column("item_code", sa.String(length=64), nullable=False),
        sa.Column("draft_ref", sa.String(length=64), nullable=True),
        sa.Column("topic", sa.Text(), nullable=False),
        sa.Column("locality", sa.String(length=6), nullable=False),
        sa.Column("window_id", sa.String(length=32), nullable=False),
        sa.Column("window_locality", sa.String(length=6), nullable=False),
        sa.Column("opened_by", sa.String(length=64), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("reviewer", sa.String(length=64), nullable=True),
        sa.Column("call_started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("consultation_id"),
    )
    op.create_index("ix_consultations_application_no", "consultations", ["application_no"])
    op.create_index("ix_consultations_locality", "consultations", ["locality"])
    op.create_index("ix_consultations_window_id", "consultations", ["window_id"])
    op.create_table(
        "presence",
        sa.Column("presence_id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("consultation_id", sa.String(length=36), nullable=False),
        sa.Column("action", sa.String(length=8), nullable=False),
        sa.Column("side", sa.String(length=8), nullable=False),
        sa.Column("sub", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("locality", sa.String(length=6), nullable=False),
        sa.Column("window_id", sa.String(length=32), nullable=True),
        sa.Column("reason", sa.String(length=32), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("presence_id"),
    )
    op.create_index("ix_presence_consultation_id", "presence", ["consultation_id"])
    op.create_table(
        "verifications",
        sa.Column("verification_id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("consultation_id", sa.String(length=36), nullable=False),
        sa.Column("material_code", sa.String(length=32), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("verified_by", sa.String(length=64), nullable=False),
        sa.Column("verified_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("verification_id"),
    )
    op.create_index("ix_verifications_consultation_id", "verifications", ["consultation_id"])
    op.create_table(
        "recordings",
        sa.Column("consultation_id", sa.String(length=36), nullable=False),
        sa.Column("blob_sha256", sa.String(length=64), nullable=False),
        sa.Column("sm3", sa.String(length=64), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("duration_seconds", sa.Integer(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("retained_until", sa.Date(), nullable=False),
        sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("consultation_id"),
    )
    op.create_index("ix_recordings_retained_until", "recordings", ["retained_until"])
    create_messaging_tables()
    add_outbox_parking()


def downgrade() -> None:
    raise NotImplementedError("the first revision is not undone")
