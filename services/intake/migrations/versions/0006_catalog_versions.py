"""catalog versions an admin publishes; the copy of the built-in catalog goes

Revision ID: 0006
Revises: 0005
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "catalog_versions",
        sa.Column("version", sa.String(length=32), nullable=False),
        sa.Column("items", sa.JSON(), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_by", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("version"),
    )
    # catalog_items only ever held a copy of the built-in catalog, written at every start and
    # read by nothing else: the service inserts the built-in version into catalog_versions at
    # its next start, so nothing is lost.
    op.drop_table("catalog_items")


def downgrade() -> None:
    # Recreated empty: the previous version of the service fills it at every start.
    op.create_table(
        "catalog_items",
        sa.Column("item_code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("domain", sa.String(length=32), nullable=False),
        sa.Column("guide", sa.JSON(), nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("item_code"),
    )
    op.drop_table("catalog_versions")
