"""initial schema: the federation outbox and inbox

Revision ID: 0001
Revises:
Create Date: 2026-12-03 02:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NOW = sa.text("now()")


def upgrade() -> None:
    op.create_table(
        "federation_outbox",
        sa.Column("seq", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("message_id", sa.String(length=64), nullable=False),
        sa.Column("to_province", sa.String(length=2), nullable=False),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column(
            "next_attempt_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False
        ),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("signed_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("signer", sa.String(length=64), nullable=True),
        sa.Column("signature", sa.String(length=128), nullable=True),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("message_id"),
    )
    # The sender's one query: the unsent messages that are due, oldest first.
    op.create_index(
        "federation_outbox_due",
        "federation_outbox",
        ["next_attempt_at"],
        postgresql_where=sa.text("sent_at IS NULL"),
    )
    op.create_table(
        "federation_inbox",
        sa.Column("message_id", sa.String(length=64), nullable=False),
        sa.Column("from_province", sa.String(length=2), nullable=False),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("signed_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("signer", sa.String(length=64), nullable=False),
        sa.Column("signature", sa.String(length=128), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.PrimaryKeyConstraint("from_province", "message_id"),
    )


def downgrade() -> None:
    op.drop_table("federation_inbox")
    op.drop_index("federation_outbox_due", table_name="federation_outbox")
    op.drop_table("federation_outbox")
