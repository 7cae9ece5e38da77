"""routing outcome: an application is routed, or unroutable with its reason

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "routed_applications",
        sa.Column("outcome", sa.String(length=16), server_default="routed", nullable=False),
    )
    op.add_column("routed_applications", sa.Column("reason", sa.String(length=32)))
    op.add_column("routed_applications", sa.Column("note", sa.Text()))
    op.alter_column("routed_applications", "competent_locality", nullable=True)
    op.alter_column("routed_applications", "topic", nullable=True)


def downgrade() -> None:
    op.execute("DELETE FROM routed_applications WHERE outcome <> 'routed'")
    op.alter_column("routed_applications", "topic", nullable=False)
    op.alter_column("routed_applications", "competent_locality", nullable=False)
    op.drop_column("routed_applications", "note")
    op.drop_column("routed_applications", "reason")
    op.drop_column("routed_applications", "outcome")
