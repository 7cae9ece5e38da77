"""public verification: each certificate's verification code, the signed revocation kept with
it, and the rate limit's counters shared by every delivery process

Revision ID: 0008
Revises: 0007
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("certificates") as table:
        table.add_column(sa.Column("revocation_event", sa.Text(), nullable=True))
        table.add_column(sa.Column("revocation_signature", sa.String(128), nullable=True))
        table.add_column(sa.Column("revocation_signer", sa.String(64), nullable=True))
        table.add_column(sa.Column("verification_code", sa.Text(), nullable=True))
        table.add_column(sa.Column("verification_code_digest", sa.String(64), nullable=True))
    op.create_table(
        "rate_limit_counters",
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("hits", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_rate_limit_counters_expires_at", "rate_limit_counters", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_rate_limit_counters_expires_at", table_name="rate_limit_counters")
    op.drop_table("rate_limit_counters")
    with op.batch_alter_table("certificates") as table:
        for column in (
            "verification_code_digest",
            "verification_code",
            "revocation_signer",
            "revocation_signature",
            "revocation_event",
        ):
            table.drop_column(column)
