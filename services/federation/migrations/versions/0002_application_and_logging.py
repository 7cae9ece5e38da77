"""the application a message concerns, and when its log event was published

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03 05:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    for table in ("federation_outbox", "federation_inbox"):
        # `tongban federation log APPLICATION` looks a case's messages up by it.
        op.add_column(table, sa.Column("application_no", sa.String(length=32), nullable=True))
        op.create_index(f"{table}_application", table, ["application_no"])
        # When its FederationMessageLogged event (the audit ledger's copy) was published.
        op.add_column(table, sa.Column("logged_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    for table in ("federation_outbox", "federation_inbox"):
        op.drop_index(f"{table}_application", table_name=table)
        op.drop_column(table, "application_no")
        op.drop_column(table, "logged_at")
