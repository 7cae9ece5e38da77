"""委托代办: the recorded agent may collect the certificate too

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("print_queue", sa.Column("agent_id_digest", sa.String(64)))
    op.add_column("print_queue", sa.Column("agent_name_masked", sa.String(64)))
    op.add_column("print_queue", sa.Column("collected_by", sa.String(16)))


def downgrade() -> None:
    op.drop_column("print_queue", "collected_by")
    op.drop_column("print_queue", "agent_name_masked")
    op.drop_column("print_queue", "agent_id_digest")
