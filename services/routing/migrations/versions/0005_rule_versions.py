"""the catalog version each jurisdiction rule comes from, so a restart keeps published rules

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
    # Nullable without a default: instant. NULL is a rule written from the built-in catalog
    # before versions were recorded; the next start of routing stamps it.
    op.add_column("jurisdiction_rules", sa.Column("catalog_version", sa.String(32)))
    op.add_column(
        "jurisdiction_rules", sa.Column("catalog_published_at", sa.DateTime(timezone=True))
    )


def downgrade() -> None:
    op.drop_column("jurisdiction_rules", "catalog_published_at")
    op.drop_column("jurisdiction_rules", "catalog_version")
