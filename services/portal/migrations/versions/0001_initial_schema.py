"""initial schema: one-time code challenges, sign-in failures, sessions

Revision ID: 0001
Revises:
Create Date: 2026-12-02 20:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "otp_challenges",
        sa.Column("challenge_id", sa.String(length=36), nullable=False),
        sa.Column("id_digest", sa.String(length=64), nullable=False),
        sa.Column("client", sa.String(length=64), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("guesses", sa.SmallInteger(), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("challenge_id"),
    )
    op.create_index(
        "ix_otp_challenges_id_digest_created", "otp_challenges", ["id_digest", "created_at"]
    )
    op.create_index("ix_otp_challenges_client_created", "otp_challenges", ["client", "created_at"])
    op.create_table(
        "sign_in_failures",
        sa.Column("failure_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("id_digest", sa.String(length=64), nullable=False),
        sa.Column("client", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("failure_id"),
    )
    op.create_index("ix_sign_in_failures_id_digest_at", "sign_in_failures", ["id_digest", "at"])
    op.create_index("ix_sign_in_failures_client_at", "sign_in_failures", ["client", "at"])
    op.create_table(
        "sessions",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("id_digest", sa.String(length=64), nullable=False),
        sa.Column("level", sa.SmallInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("token_hash"),
    )


def downgrade() -> None:
    op.drop_table("sessions")
    op.drop_table("sign_in_failures")
    op.drop_table("otp_challenges")
