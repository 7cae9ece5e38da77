"""跨省通办: a partner province's certificate, printed at the receiving window or posted (its
seal key as the partner's anchor names it; what delivery needs of the handed-over application)

Revision ID: 0013
Revises: 0012
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("certificates", sa.Column("partner_seal", sa.JSON(), nullable=True))
    op.create_table(
        "partner_deliveries",
        sa.Column("application_no", sa.String(32), primary_key=True),
        sa.Column("partner_province", sa.String(2), nullable=False),
        sa.Column("competent_locality", sa.String(6), nullable=False),
        sa.Column("receiving_locality", sa.String(6), nullable=False),
        sa.Column("window_id", sa.String(32), nullable=False),
        sa.Column("item_code", sa.String(32), nullable=False),
        sa.Column("item_name", sa.String(128), nullable=False),
        sa.Column("delivery_method", sa.String(24), nullable=False),
        sa.Column("holder_name_masked", sa.String(64), nullable=False),
        sa.Column("agent_name_masked", sa.String(64), nullable=True),
        sa.Column("personal_data", sa.JSON(), nullable=False),
        sa.Column("expected_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("certificate_no", sa.String(32), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("partner_deliveries")
    op.drop_column("certificates", "partner_seal")
