"""the audit ledger's entries carry routing's MAC (HMAC-SM3 of the entry's hash under a secret
of its key ring), its guard of the tail no checkpoint has signed yet; NULL for the entries
appended before

Revision ID: 0010
Revises: 0009
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("ledger", sa.Column("mac", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    op.drop_column("ledger", "mac")
