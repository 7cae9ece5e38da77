"""personal data encrypted at rest: the applicant, delivery and agent of each stored application
become SM4-GCM tokens (the rest of the application stays readable), outbox payloads are encrypted

Revision ID: 0006
Revises: 0005
"""

from collections.abc import Sequence

from shared.db.migrations import (
    LazyPersonalData,
    open_outbox_payloads,
    rewrite_document_fields,
    seal_outbox_payloads,
)

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Where the service binds each value (its AAD), as the service binds it at this revision.
WHERE = "routing.routed_applications.application"


def upgrade() -> None:
    personal = LazyPersonalData()
    rewrite_document_fields(
        "routed_applications", "application_no", "application", WHERE, personal, seal=True
    )
    seal_outbox_payloads(personal)


def downgrade() -> None:
    personal = LazyPersonalData()
    open_outbox_payloads(personal)
    rewrite_document_fields(
        "routed_applications", "application_no", "application", WHERE, personal, seal=False
    )
