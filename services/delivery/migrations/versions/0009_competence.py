"""routing's competent locality of each application, against which approval's events are checked

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
    # Filled by delivery's new consumer of tongban.routing.events, which reads it from its start.
    op.create_table(
        "competence",
        sa.Column("application_no", sa.String(length=32), nullable=False),
        sa.Column("competent_locality", sa.String(length=6), nullable=False),
        sa.Column("routed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("transferring_to", sa.String(length=6), nullable=True),
        sa.PrimaryKeyConstraint("application_no"),
    )


def downgrade() -> None:
    op.drop_table("competence")
