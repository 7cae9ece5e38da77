"""personal data encrypted at rest: a postal dispatch's address becomes an SM4-GCM token (text),
outbox payloads are encrypted

Revision ID: 0004
Revises: 0003
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

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _place(application_no: str) -> str:
    return place("delivery.postal_dispatches.address", application_no)


def upgrade() -> None:
    personal = LazyPersonalData()
    op.alter_column(
        "postal_dispatches", "address", type_=sa.Text(), postgresql_using="address::text"
    )

    def encrypt(application_no: str, old: dict[str, Any]) -> dict[str, Any]:
        if is_token(old["address"]):
            return {}
        address = json.loads(old["address"])
        return {"address": personal().encrypt_json(address, where=_place(application_no))}

    rewrite_rows("postal_dispatches", "application_no", {"address": sa.Text()}, encrypt)
    seal_outbox_payloads(personal)


def downgrade() -> None:
    personal = LazyPersonalData()
    open_outbox_payloads(personal)

    def decrypt(application_no: str, old: dict[str, Any]) -> dict[str, Any]:
        if not is_token(old["address"]):
            return {}
        address = personal().decrypt_json(old["address"], where=_place(application_no))
        return {"address": json.dumps(address, ensure_ascii=False)}

    rewrite_rows("postal_dispatches", "application_no", {"address": sa.Text()}, decrypt)
    op.alter_column(
        "postal_dispatches", "address", type_=sa.JSON(), postgresql_using="address::json"
    )
