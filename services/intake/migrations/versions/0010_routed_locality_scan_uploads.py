"""Routing's competent locality of each application, and which windows uploaded each scan

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

# Routing's facts are now read by a consumer of their own (services.intake.consumers).
PROGRESS = "tongban.intake.progress"
ROUTING_FACTS = "tongban.intake.routing"
ROUTING_TYPES = (
    "gov.tongban.routing.routed.v1",
    "gov.tongban.routing.unroutable.v1",
    "gov.tongban.routing.transferred.v1",
)


def upgrade() -> None:
    op.add_column("applications", sa.Column("routed_locality", sa.String(length=6), nullable=True))
    op.add_column("applications", sa.Column("transferring_to", sa.String(length=6), nullable=True))
    # An application past `accepted` got its competent locality from routing's facts (or from
    # its case, opened where routing sent it).
    op.execute(
        "UPDATE applications SET routed_locality = competent_locality "
        "WHERE status NOT IN ('accepted', 'unroutable')"
    )
    # The new consumer reads routing's topic from its start: what the progress consumer took
    # in already stays taken (as far back as the inbox keeps it).
    op.execute(
        sa.text(
            "INSERT INTO inbox (consumer, event_id, event_type, processed_at) "
            "SELECT :routing, event_id, event_type, processed_at FROM inbox "
            "WHERE consumer = :progress AND event_type IN :types ON CONFLICT DO NOTHING"
        ).bindparams(
            sa.bindparam("types", expanding=True),
            routing=ROUTING_FACTS,
            progress=PROGRESS,
            types=list(ROUTING_TYPES),
        )
    )
    op.create_table(
        "scan_uploads",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("window_id", sa.String(length=32), nullable=False),
        sa.Column("uploaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("sha256", "window_id"),
    )
    op.execute(
        "INSERT INTO scan_uploads (sha256, window_id, uploaded_at) "
        "SELECT sha256, window_id, uploaded_at FROM scans"
    )


def downgrade() -> None:
    op.drop_table("scan_uploads")
    op.execute(sa.text("DELETE FROM inbox WHERE consumer = :c").bindparams(c=ROUTING_FACTS))
    op.drop_column("applications", "transferring_to")
    op.drop_column("applications", "routed_locality")
