"""补正 with a paused clock, 容缺 reminders, 移交, and the record of scan reads

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
    # "supplement_requested" does not fit the old 16 characters.
    op.alter_column("cases", "status", type_=sa.String(24))
    op.add_column("cases", sa.Column("paused_on", sa.Date()))
    op.add_column(
        "cases", sa.Column("paused_working_days", sa.Integer(), nullable=False, server_default="0")
    )
    op.add_column("cases", sa.Column("requested_materials", sa.JSON()))
    op.add_column("cases", sa.Column("supplements", sa.JSON(), nullable=False, server_default="[]"))
    op.add_column("cases", sa.Column("deferred", sa.JSON(), nullable=False, server_default="[]"))
    op.add_column("cases", sa.Column("deferred_due_on", sa.Date()))
    op.add_column("cases", sa.Column("deferred_remind_on", sa.Date()))
    op.add_column("cases", sa.Column("deferred_reminded_at", sa.DateTime(timezone=True)))
    op.add_column("cases", sa.Column("override_reason", sa.Text()))
    op.add_column("cases", sa.Column("transferred_to", sa.String(6)))
    op.create_index(
        "ix_cases_to_remind",
        "cases",
        ["deferred_remind_on"],
        postgresql_where=sa.text("deferred_reminded_at IS NULL"),
    )
    op.create_table(
        "material_reads",
        sa.Column("id", sa.BigInteger(), primary_key=True, autoincrement=True),
        sa.Column("application_no", sa.String(32), nullable=False, index=True),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("locality", sa.String(6), nullable=False),
        sa.Column("read_by", sa.String(64), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("material_reads")
    op.drop_index("ix_cases_to_remind", table_name="cases")
    for column in (
        "transferred_to",
        "override_reason",
        "deferred_reminded_at",
        "deferred_remind_on",
        "deferred_due_on",
        "deferred",
        "supplements",
        "requested_materials",
        "paused_working_days",
        "paused_on",
    ):
        op.drop_column("cases", column)
    op.alter_column("cases", "status", type_=sa.String(16))
