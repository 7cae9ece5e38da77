"""postal dispatch through the carrier: attempts, tracking number and the locality a dispatch's
events name; the carrier's tracking reports, one per (tracking number, event)

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("postal_dispatches") as table:
        table.add_column(sa.Column("receiving_locality", sa.String(6), nullable=True))
        table.add_column(sa.Column("window_id", sa.String(32), nullable=True))
        table.add_column(sa.Column("item_code", sa.String(32), nullable=True))
        table.add_column(
            sa.Column("attempts", sa.Integer(), nullable=False, server_default=sa.text("0"))
        )
        table.add_column(sa.Column("last_error", sa.String(200), nullable=True))
        table.add_column(sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True))
        table.add_column(sa.Column("carrier", sa.String(32), nullable=True))
        table.add_column(sa.Column("tracking_no", sa.String(32), nullable=True))
        table.add_column(sa.Column("dispatched_at", sa.DateTime(timezone=True), nullable=True))
        table.add_column(sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True))
        table.create_unique_constraint("postal_dispatches_tracking_no_key", ["tracking_no"])
    op.create_index("ix_postal_dispatches_due", "postal_dispatches", ["status", "next_attempt_at"])
    op.create_table(
        "carrier_events",
        sa.Column("id", sa.BigInteger(), primary_key=True, autoincrement=True),
        sa.Column("tracking_no", sa.String(32), nullable=False),
        sa.Column("event", sa.String(16), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("tracking_no", "event", name="uq_carrier_events_event"),
    )


def downgrade() -> None:
    op.drop_table("carrier_events")
    op.drop_index("ix_postal_dispatches_due", table_name="postal_dispatches")
    with op.batch_alter_table("postal_dispatches") as table:
        table.drop_constraint("postal_dispatches_tracking_no_key", type_="unique")
        for column in (
            "delivered_at",
            "dispatched_at",
            "tracking_no",
            "carrier",
            "next_attempt_at",
            "last_error",
            "attempts",
            "item_code",
            "window_id",
            "receiving_locality",
        ):
            table.drop_column(column)
