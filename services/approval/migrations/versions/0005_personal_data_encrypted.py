"""personal data encrypted at rest: the applicant, delivery and agent of each case's application
become SM4-GCM tokens (the rest of the application stays readable), outbox payloads are encrypted

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from shared.crypto.personal import place
from shared.db.migrations import (
    LazyPersonalData,
    open_outbox_payloads,
    rewrite_rows,
    seal_outbox_payloads,
)

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _rewrite(personal: LazyPersonalData, *, seal: bool) -> None:
    def rewrite(application_no: str, old: dict[str, Any]) -> dict[str, Any]:
        where = place("approval.cases.application", application_no)
        if seal:
            return {"application": personal().seal_fields(old["application"], where=where)}
        return {"application": personal().open_fields(old["application"], where=where)}

    rewrite_rows("cases", "application_no", {"application": sa.JSON()}, rewrite)


def upgrade() -> None:
    personal = LazyPersonalData()
    _rewrite(personal, seal=True)
    seal_outbox_payloads(personal)


def downgrade() -> None:
    personal = LazyPersonalData()
    open_outbox_payloads(personal)
    _rewrite(personal, seal=False)
