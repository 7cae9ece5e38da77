"""the certificate registry's revocation reason named as approval's and intake's registries name
it: revoked_reason (was revocation_reason)

Revision ID: 0010
Revises: 0009
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.alter_column("certificates", "revocation_reason", new_column_name="revoked_reason")


def downgrade() -> None:
    op.alter_column("certificates", "revoked_reason", new_column_name="revocation_reason")
