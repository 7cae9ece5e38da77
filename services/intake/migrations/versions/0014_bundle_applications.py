"""Bundle applications (一件事一次办): the bundle, its children, and each application's bundle

Revision ID: 0014
Revises: 0013
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "bundle_applications",
        sa.Column("bundle_no", sa.String(32), primary_key=True),
        sa.Column("bundle_id", sa.String(32), nullable=False, index=True),
        sa.Column("catalog_version", sa.String(32), nullable=False),
        sa.Column("applicant", sa.Text(), nullable=False),
        sa.Column("delivery", sa.Text(), nullable=False),
        sa.Column("agent", sa.Text(), nullable=True),
        sa.Column("shared_fields", sa.Text(), nullable=False),
        sa.Column("property_locality", sa.String(6), nullable=True),
        sa.Column("receiving_locality", sa.String(6), nullable=False, index=True),
        sa.Column("window_id", sa.String(32), nullable=False),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("accepted_by", sa.String(64), nullable=False),
        sa.Column("promised_date", sa.Date(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("rejection", sa.JSON(), nullable=True),
    )
    op.create_table(
        "bundle_children",
        sa.Column("application_no", sa.String(32), primary_key=True),
        sa.Column(
            "bundle_no",
            sa.String(32),
            sa.ForeignKey("bundle_applications.bundle_no"),
            nullable=False,
            index=True,
        ),
        sa.Column("item_code", sa.String(32), nullable=False),
        sa.Column("required", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=True),
        sa.Column("waits_for", sa.JSON(), nullable=False),
        sa.Column("issued", sa.JSON(), nullable=False),
        sa.Column("materials", sa.JSON(), nullable=False),
        sa.Column("commitments", sa.JSON(), nullable=False),
        sa.Column("deferred", sa.JSON(), nullable=False),
        sa.Column("competent_locality", sa.String(6), nullable=False),
        sa.Column("department", sa.String(128), nullable=False),
        sa.Column("promised_date", sa.Date(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked", sa.JSON(), nullable=False, server_default="[]"),
    )
    op.add_column("applications", sa.Column("bundle_no", sa.String(32), nullable=True))
    op.create_index("ix_applications_bundle_no", "applications", ["bundle_no"])


def downgrade() -> None:
    op.drop_index("ix_applications_bundle_no", "applications")
    op.drop_column("applications", "bundle_no")
    op.drop_table("bundle_children")
    op.drop_table("bundle_applications")
