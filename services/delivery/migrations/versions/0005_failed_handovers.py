"""failed hand-overs, recorded and counted per window

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "failed_handovers",
        sa.Column("id", sa.BigInteger(), primary_key=True, autoincrement=True),
        sa.Column("window_id", sa.String(32), nullable=False),
        sa.Column("application_no", sa.String(32), nullable=False),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("attempted_by", sa.String(64), nullable=False),
        sa.Column("attempted_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "ix_failed_handovers_window_at", "failed_handovers", ["window_id", "attempted_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_failed_handovers_window_at", table_name="failed_handovers")
    op.drop_table("failed_handovers")
