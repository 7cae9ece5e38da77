"""一件事: a postal bundle's certificates sent in one parcel (one shipment at the carrier, one
tracking number); each member's dispatch says which bundle's parcel carries it

Revision ID: 0012
Revises: 0011
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_PARCEL_COLUMNS = (
    "method",
    "attempts",
    "last_error",
    "next_attempt_at",
    "carrier",
    "tracking_no",
    "dispatched_at",
)


def upgrade() -> None:
    op.add_column("postal_dispatches", sa.Column("bundle_no", sa.String(32), nullable=True))
    op.create_index("ix_postal_dispatches_bundle_no", "postal_dispatches", ["bundle_no"])
    with op.batch_alter_table("bundle_deliveries") as table:
        table.add_column(sa.Column("method", sa.String(24), nullable=True))
        table.add_column(
            sa.Column("attempts", sa.Integer(), nullable=False, server_default=sa.text("0"))
        )
        table.add_column(sa.Column("last_error", sa.String(200), nullable=True))
        table.add_column(sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True))
        table.add_column(sa.Column("carrier", sa.String(32), nullable=True))
        table.add_column(sa.Column("tracking_no", sa.String(32), nullable=True))
        table.add_column(sa.Column("dispatched_at", sa.DateTime(timezone=True), nullable=True))
        # One parcel per bundle (its primary key), one bundle per tracking number.
        table.create_unique_constraint("bundle_deliveries_tracking_no_key", ["tracking_no"])
    op.create_index("ix_bundle_deliveries_due", "bundle_deliveries", ["status", "next_attempt_at"])


def downgrade() -> None:
    op.drop_index("ix_bundle_deliveries_due", table_name="bundle_deliveries")
    with op.batch_alter_table("bundle_deliveries") as table:
        table.drop_constraint("bundle_deliveries_tracking_no_key", type_="unique")
        for column in reversed(_PARCEL_COLUMNS):
            table.drop_column(column)
    op.drop_index("ix_postal_dispatches_bundle_no", "postal_dispatches")
    op.drop_column("postal_dispatches", "bundle_no")
