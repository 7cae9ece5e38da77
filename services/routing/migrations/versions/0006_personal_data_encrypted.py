"""personal data encrypted at rest: the applicant, delivery and agent of each stored application
become SM4-GCM tokens (the rest of the application stays readable), outbox payloads are encrypted

Revision ID: 0006
Revises: 0005
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

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _where(application_no: str) -> str:
    return place("routing.routed_applications.application", application_no)


def _rewrite(personal: LazyPersonalData, *, seal: bool) -> None:
    def rewrite(application_no: str, old: dict[str, Any]) -> dict[str, Any]:
        application = old["application"]
        if application is None:
            return {}
        where = _where(application_no)
        if seal:
            return {"application": personal().seal_fields(application, where=where)}
        return {"application": personal().open_fields(application, where=where)}

    rewrite_rows("routed_applications", "application_no", {"application": sa.JSON()}, rewrite)


def upgrade() -> None:
    personal = LazyPersonalData()
    _rewrite(personal, seal=True)
    seal_outbox_payloads(personal)


def downgrade() -> None:
    personal = LazyPersonalData()
    open_outbox_payloads(personal)
    _rewrite(personal, seal=False)
