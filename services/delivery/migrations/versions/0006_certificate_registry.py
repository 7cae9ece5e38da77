"""the certificate registry replica: sealed documents, their receiving windows and prints

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
    op.create_table(
        "certificates",
        sa.Column("number", sa.String(32), primary_key=True),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("application_no", sa.String(32), nullable=False),
        sa.Column("issuer_locality", sa.String(6), nullable=False),
        sa.Column("item_code", sa.String(32), nullable=False),
        sa.Column("item_name", sa.String(128), nullable=False),
        sa.Column("content", sa.JSON(), nullable=False),
        sa.Column("seal_signer", sa.String(64), nullable=False),
        sa.Column("seal_signature", sa.String(128), nullable=False),
        sa.Column("issued_on", sa.Date(), nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revocation_reason", sa.Text(), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("verifications", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("last_verified_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_certificates_application_no", "certificates", ["application_no"])
    op.create_table(
        "receiving_windows",
        sa.Column("application_no", sa.String(32), primary_key=True),
        sa.Column("window_id", sa.String(32), nullable=False),
        sa.Column("locality", sa.String(6), nullable=False),
        sa.Column("delivery_method", sa.String(24), nullable=False),
    )
    op.create_table(
        "certificate_prints",
        sa.Column("id", sa.BigInteger(), primary_key=True, autoincrement=True),
        sa.Column(
            "certificate_no", sa.String(32), sa.ForeignKey("certificates.number"), nullable=False
        ),
        sa.Column("ordinal", sa.Integer(), nullable=False),
        sa.Column("reprint", sa.Boolean(), nullable=False),
        sa.Column("printed_by", sa.String(64), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("window_id", sa.String(32), nullable=True),
        sa.Column("locality", sa.String(6), nullable=False),
        sa.Column("printed_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("certificate_no", "ordinal"),
    )


def downgrade() -> None:
    op.drop_table("certificate_prints")
    op.drop_table("receiving_windows")
    op.drop_index("ix_certificates_application_no", table_name="certificates")
    op.drop_table("certificates")
