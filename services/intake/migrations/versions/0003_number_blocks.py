"""application numbers in blocks: the sequence advances by the block a process takes at once

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BLOCK = 100  # services.intake.db.NUMBER_BLOCK when this revision was written


def upgrade() -> None:
    # The next value is the last one handed out plus BLOCK: no number is given twice.
    op.execute(f"ALTER SEQUENCE application_no_seq INCREMENT BY {BLOCK}")


def downgrade() -> None:
    op.execute("ALTER SEQUENCE application_no_seq INCREMENT BY 1")
