"""一件事: a bundle application's certificates handed over together (one print job, one
hand-over at the receiving window)

Revision ID: 0011
Revises: 0010
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("print_queue", sa.Column("bundle_no", sa.String(32), nullable=True))
    op.create_index("ix_print_queue_bundle_no", "print_queue", ["bundle_no"])
    op.create_table(
        "bundle_deliveries",
        sa.Column("bundle_no", sa.String(32), primary_key=True),
        sa.Column("bundle_id", sa.String(32), nullable=False),
        sa.Column("window_id", sa.String(32), nullable=False, index=True),
        sa.Column("locality", sa.String(6), nullable=False),
        sa.Column("members", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ready_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("delivered_by", sa.String(64), nullable=True),
        sa.Column("collected_by", sa.String(16), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("bundle_deliveries")
    op.drop_index("ix_print_queue_bundle_no", "print_queue")
    op.drop_column("print_queue", "bundle_no")
