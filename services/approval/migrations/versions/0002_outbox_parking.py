"""outbox parking: rows the broker refuses for good are parked, not retried forever

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 16:00:00.000000
"""

from collections.abc import Sequence

from shared.db.migrations import add_outbox_parking, drop_outbox_parking

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    add_outbox_parking()


def downgrade() -> None:
    drop_outbox_parking()
