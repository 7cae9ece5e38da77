"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-23 09:25:50.979544
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shared.db.migrations import create_messaging_tables, drop_messaging_tables

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "jurisdiction_rules",
        sa.Column("item_code", sa.String(length=32), nullable=False),
        sa.Column("jurisdiction", sa.String(length=16), nullable=False),
        sa.Column("competent_level", sa.String(length=8), nullable=False),
        sa.Column("department", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("item_code"),
    )
    op.create_table(
        "routed_applications",
        sa.Column("application_no", sa.String(length=32), nullable=False),
        sa.Column("item_code", sa.String(length=32), nullable=False),
        sa.Column("competent_locality", sa.String(length=6), nullable=False),
        sa.Column("topic", sa.String(length=128), nullable=False),
        sa.Column("routed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("application_no"),
    )
    op.create_index(
        op.f("ix_routed_applications_competent_locality"),
        "routed_applications",
        ["competent_locality"],
        unique=False,
    )
    op.create_table(
        "trust_agreements",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("grantor_locality", sa.String(length=6), nullable=False),
        sa.Column("grantee_locality", sa.String(length=6), nullable=False),
        sa.Column("item_codes", sa.JSON(), nullable=False),
        sa.Column("rights", sa.JSON(), nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        op.f("ix_trust_agreements_grantor_locality"),
        "trust_agreements",
        ["grantor_locality"],
        unique=False,
    )
    create_messaging_tables()


def downgrade() -> None:
    drop_messaging_tables()
    op.drop_index(op.f("ix_trust_agreements_grantor_locality"), table_name="trust_agreements")
    op.drop_table("trust_agreements")
    op.drop_index(
        op.f("ix_routed_applications_competent_locality"), table_name="routed_applications"
    )
    op.drop_table("routed_applications")
    op.drop_table("jurisdiction_rules")
