"""Bundles (一件事) published with each catalog version

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
    # Versions published before keep NULL: they had no bundles, and a version never changes.
    op.add_column("catalog_versions", sa.Column("bundles", sa.JSON(), nullable=True))


def downgrade() -> None:
    op.drop_column("catalog_versions", "bundles")
