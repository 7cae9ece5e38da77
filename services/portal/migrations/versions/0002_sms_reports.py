"""sms reports: the gateway's delivery reports of the codes sent

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02 20:35:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sms_reports",
        sa.Column("message_id", sa.String(length=64), nullable=False),
        sa.Column("reference", sa.String(length=128), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("message_id"),
    )
    op.create_index("ix_sms_reports_reference", "sms_reports", ["reference"])


def downgrade() -> None:
    op.drop_table("sms_reports")
