"""the audit ledger's format 2: entries are hash-chained but no longer signed one by one (the
published checkpoints carry routing's signature), so an entry's signer and signature may be
NULL; the entries of format 1 keep theirs

Revision ID: 0009
Revises: 0008
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.alter_column("ledger", "signer", existing_type=sa.String(64), nullable=True)
    op.alter_column("ledger", "signature", existing_type=sa.LargeBinary(), nullable=True)


def downgrade() -> None:
    # Entries of format 2 have no signature to keep: going back is refused while any exists.
    op.execute(
        "DO $$ BEGIN IF EXISTS (SELECT 1 FROM ledger WHERE signature IS NULL) THEN "
        "RAISE EXCEPTION 'the ledger holds unsigned entries (format 2)'; END IF; END $$"
    )
    op.alter_column("ledger", "signature", existing_type=sa.LargeBinary(), nullable=False)
    op.alter_column("ledger", "signer", existing_type=sa.String(64), nullable=False)
