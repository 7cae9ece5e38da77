"""originals verified by video (视频核验) in the consultation service's calls, and those calls'
recordings (全过程记录), as the consultation service announced them

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
    op.create_table(
        "video_verifications",
        sa.Column("consultation_id", sa.String(36), primary_key=True),
        sa.Column("material_code", sa.String(32), primary_key=True),
        sa.Column("verified_at", sa.DateTime(timezone=True), primary_key=True),
        sa.Column("application_no", sa.String(32), nullable=False),
        sa.Column("locality", sa.String(6), nullable=False),
        sa.Column("item_code", sa.String(32), nullable=False),
        sa.Column("window_id", sa.String(32), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("verified_by", sa.String(64), nullable=False),
        sa.Column("verifier_role", sa.String(32), nullable=False),
        sa.Column("verifier_locality", sa.String(6), nullable=False),
    )
    op.create_index(
        "ix_video_verifications_application_no", "video_verifications", ["application_no"]
    )
    op.create_table(
        "video_recordings",
        sa.Column("consultation_id", sa.String(36), primary_key=True),
        sa.Column("application_no", sa.String(32), nullable=False),
        sa.Column("locality", sa.String(6), nullable=False),
        sa.Column("blob_sha256", sa.String(64), nullable=False),
        sa.Column("sm3", sa.String(64), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("duration_seconds", sa.Integer(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("retained_until", sa.Date(), nullable=False),
    )
    op.create_index("ix_video_recordings_application_no", "video_recordings", ["application_no"])


def downgrade() -> None:
    op.drop_index("ix_video_recordings_application_no", table_name="video_recordings")
    op.drop_table("video_recordings")
    op.drop_index("ix_video_verifications_application_no", table_name="video_verifications")
    op.drop_table("video_verifications")
