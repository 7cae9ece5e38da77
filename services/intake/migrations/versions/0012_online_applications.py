"""online applications: whose each application handed in through the portal is (全程网办)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 20:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "online_applications",
        sa.Column("application_no", sa.String(length=32), nullable=False),
        sa.Column("applicant_id_digest", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("window_id", sa.String(length=32), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("application_no"),
    )
    op.create_index(
        "ix_online_applications_applicant_id_digest",
        "online_applications",
        ["applicant_id_digest"],
    )


def downgrade() -> None:
    op.drop_table("online_applications")
