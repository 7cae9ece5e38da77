"""evaluations (好差评): one rating per finished application

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
    op.create_table(
        "evaluations",
        sa.Column("application_no", sa.String(length=32), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("item_code", sa.String(length=32), nullable=False),
        sa.Column("window_id", sa.String(length=32), nullable=False),
        sa.Column("receiving_locality", sa.String(length=6), nullable=False),
        sa.Column("competent_locality", sa.String(length=6), nullable=False),
        sa.Column("evaluated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("evaluated_by", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["application_no"], ["applications.application_no"]),
        sa.PrimaryKeyConstraint("application_no"),
    )
    for column in ("item_code", "window_id", "receiving_locality", "competent_locality"):
        op.create_index(f"ix_evaluations_{column}", "evaluations", [column])


def downgrade() -> None:
    for column in ("item_code", "window_id", "receiving_locality", "competent_locality"):
        op.drop_index(f"ix_evaluations_{column}", table_name="evaluations")
    op.drop_table("evaluations")
