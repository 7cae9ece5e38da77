"""the registry of sealed documents: certificates (电子证照) and rejection notices (不予许可决定书)
as sealed, with the holder's name encrypted, and their revocation

Revision ID: 0006
Revises: 0005
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(sa.schema.CreateSequence(sa.Sequence("rejection_notice_no_seq")))
    op.create_table(
        "certificates",
        sa.Column("number", sa.String(32), primary_key=True),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("application_no", sa.String(32), nullable=False),
        sa.Column("locality", sa.String(6), nullable=False),
        sa.Column("item_code", sa.String(32), nullable=False),
        sa.Column("content", sa.JSON(), nullable=False),
        sa.Column("seal_signer", sa.String(64), nullable=False),
        sa.Column("seal_signature", sa.String(128), nullable=False),
        sa.Column("issued_on", sa.Date(), nullable=False),
        sa.Column("valid_until", sa.Date()),
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
        sa.Column("revoked_reason", sa.Text()),
        sa.Column("revoked_by", sa.String(64)),
    )
    op.create_index("ix_certificates_application_no", "certificates", ["application_no"])
    op.create_index("ix_certificates_locality", "certificates", ["locality"])


def downgrade() -> None:
    op.drop_index("ix_certificates_locality", table_name="certificates")
    op.drop_index("ix_certificates_application_no", table_name="certificates")
    op.drop_table("certificates")
    op.execute(sa.schema.DropSequence(sa.Sequence("rejection_notice_no_seq")))
