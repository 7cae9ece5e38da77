"""notifications: the applications the portal may notify, the SMS of each fact, the inbox

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03 02:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "known_applications",
        sa.Column("application_no", sa.String(length=64), nullable=False),
        sa.Column("id_digest", sa.String(length=128), nullable=False),
        sa.Column("item_code", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("known_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("application_no"),
    )
    op.create_table(
        "rejection_notices",
        sa.Column("application_no", sa.String(length=64), nullable=False),
        sa.Column("notice_no", sa.String(length=64), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("application_no"),
    )
    op.create_table(
        "notifications",
        sa.Column("notification_id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("application_no", sa.String(length=64), nullable=False),
        sa.Column("fact", sa.String(length=32), nullable=False),
        sa.Column("repeat", sa.String(length=64), nullable=False),
        sa.Column("id_digest", sa.String(length=128), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.String(length=64), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("notification_id"),
        sa.UniqueConstraint("application_no", "fact", "repeat", name="uq_notifications_fact"),
    )
    op.create_index(
        "ix_notifications_pending",
        "notifications",
        ["notification_id"],
        postgresql_where=sa.text("status = 'pending'"),
    )
    # The consumer runner's inbox (shared.messaging.consumer), as every service's; the portal
    # publishes nothing, so no outbox.
    op.create_table(
        "inbox",
        sa.Column("consumer", sa.String(length=128), nullable=False),
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("event_type", sa.String(length=255), nullable=False),
        sa.Column(
            "processed_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("consumer", "event_id"),
    )


def downgrade() -> None:
    op.drop_table("inbox")
    op.drop_table("notifications")
    op.drop_table("rejection_notices")
    op.drop_table("known_applications")
