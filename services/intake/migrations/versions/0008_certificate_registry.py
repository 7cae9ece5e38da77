"""免证办: intake's replica of the province's certificate registry, and the certificates an
application cited instead of materials

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
    op.create_table(
        "certificates",
        sa.Column("certificate_no", sa.String(length=32), nullable=False),
        sa.Column("issuer_locality", sa.String(length=6), nullable=False),
        sa.Column("item_code", sa.String(length=32), nullable=False),
        sa.Column("holder_id_digest", sa.String(length=128), nullable=False),
        sa.Column("issued_on", sa.Date(), nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("certificate_no"),
    )
    # Applications accepted before cite nothing.
    op.add_column(
        "applications",
        sa.Column("certificates", sa.JSON(), nullable=False, server_default=sa.text("'[]'")),
    )


def downgrade() -> None:
    op.drop_column("applications", "certificates")
    op.drop_table("certificates")
