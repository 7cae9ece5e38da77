"""keep the routed application, so a transfer (移交) can route it again

Revision ID: 0004
Revises: 0003
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("routed_applications", sa.Column("application", sa.JSON()))
    op.add_column("routed_applications", sa.Column("department", sa.String(128)))
    op.add_column(
        "routed_applications",
        sa.Column("transfers", sa.Integer(), nullable=False, server_default="0"),
    )


def downgrade() -> None:
    op.drop_column("routed_applications", "transfers")
    op.drop_column("routed_applications", "department")
    op.drop_column("routed_applications", "application")
