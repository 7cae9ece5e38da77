"""personal data encrypted at rest: applicant, delivery and agent become SM4-GCM tokens (text),
the agent's masked name gets its own column, outbox payloads are encrypted

Revision ID: 0007
Revises: 0006
"""

import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

from shared.crypto.personal import is_token, place
from shared.db.migrations import (
    LazyPersonalData,
    open_outbox_payloads,
    rewrite_rows,
    seal_outbox_payloads,
)
from shared.identity import mask_name

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = ("applicant", "delivery", "agent")


def _place(column: str, application_no: str) -> str:
    return place(f"intake.applications.{column}", application_no)


def upgrade() -> None:
    personal = LazyPersonalData()
    op.add_column("applications", sa.Column("agent_name_masked", sa.String(100), nullable=True))
    for column in COLUMNS:
        op.alter_column("applications", column, type_=sa.Text(), postgresql_using=f"{column}::text")

    def encrypt(application_no: str, old: dict[str, Any]) -> dict[str, Any]:
        new: dict[str, Any] = {}
        for column in COLUMNS:
            text = old[column]
            if text is None or text == "null" or is_token(text):
                new[column] = None if text in (None, "null") else text
                continue
            value = json.loads(text)
            if column == "agent":
                new["agent_name_masked"] = mask_name(value["name"])
            new[column] = personal().encrypt_json(value, where=_place(column, application_no))
        return new

    rewrite_rows(
        "applications", "application_no", {column: sa.Text() for column in COLUMNS}, encrypt
    )
    seal_outbox_payloads(personal)


def downgrade() -> None:
    personal = LazyPersonalData()
    open_outbox_payloads(personal)

    def decrypt(application_no: str, old: dict[str, Any]) -> dict[str, Any]:
        return {
            column: json.dumps(
                personal().decrypt_json(old[column], where=_place(column, application_no))
            )
            if is_token(old[column])
            else old[column]
            for column in COLUMNS
        }

    rewrite_rows(
        "applications", "application_no", {column: sa.Text() for column in COLUMNS}, decrypt
    )
    for column in COLUMNS:
        op.alter_column("applications", column, type_=sa.JSON(), postgresql_using=f"{column}::json")
    op.drop_column("applications", "agent_name_masked")
