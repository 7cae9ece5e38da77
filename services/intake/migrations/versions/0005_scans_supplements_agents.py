"""scans (收件转交), supplements (补正 / 容缺补交), agents (帮办代办) and the catalog version

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
        "scans",
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("content_type", sa.String(32), nullable=False),
        sa.Column("uploaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("uploaded_by", sa.String(64), nullable=False),
        sa.Column("window_id", sa.String(32), nullable=False),
        sa.Column("locality", sa.String(6), nullable=False),
    )
    op.create_table(
        "supplements",
        sa.Column("id", sa.BigInteger(), primary_key=True, autoincrement=True),
        sa.Column(
            "application_no",
            sa.String(32),
            sa.ForeignKey("applications.application_no"),
            nullable=False,
            index=True,
        ),
        sa.Column("materials", sa.JSON(), nullable=False),
        sa.Column("window_id", sa.String(32), nullable=False),
        sa.Column("locality", sa.String(6), nullable=False),
        sa.Column("handed_in_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("handed_in_by", sa.String(64), nullable=False),
    )
    op.add_column("applications", sa.Column("agent", sa.JSON()))
    op.add_column("applications", sa.Column("deferred_due_on", sa.Date()))
    op.add_column("applications", sa.Column("requested_materials", sa.JSON()))
    op.add_column("applications", sa.Column("catalog_version", sa.String(32)))


def downgrade() -> None:
    for column in ("catalog_version", "requested_materials", "deferred_due_on", "agent"):
        op.drop_column("applications", column)
    op.drop_table("supplements")
    op.drop_table("scans")
