"""Timeline notes stored as their English source and parameters, translated when read

Revision ID: 0011
Revises: 0010
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Entries written before keep their sentence (NULL parameters) and are shown as written.
    op.add_column("timeline_entries", sa.Column("note_params", sa.JSON(), nullable=True))


def downgrade() -> None:
    op.drop_column("timeline_entries", "note_params")
