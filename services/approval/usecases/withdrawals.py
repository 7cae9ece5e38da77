"""一件事: a child of a failed bundle application withdrawn (intake's process manager, through
routing). Compensation is a legal act, not a rollback: a case still undecided is closed as
withdrawn with the reason (its approver sees it, its clock stops for good), and a certificate
already issued for it is revoked through the registry with the reason (a signed
CertificateRevoked: public verification answers `revoked` from then on)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.approval.db import CaseRow, CertificateRow
from services.approval.usecases.cases import OPEN
from services.approval.usecases.certificates import CERTIFICATE, revoke
from shared import clock
from shared.errors import NotFound
from shared.messaging import events
from shared.messaging.outbox import Outbox
from shared.vocabulary import CaseStatus

# Who revoked a certificate for a failed bundle (the registry's `revoked_by`).
BUNDLE_MANAGER = "tongban-bundle-manager"


async def withdraw(
    session: AsyncSession, outbox: Outbox, withdrawn: events.WithdrawalRouted
) -> None:
    """Close the case, or revoke what it issued. A withdrawal read again finds the case closed
    and its certificate revoked already, and does nothing; a rejected case has nothing to undo."""
    row = await session.get(CaseRow, withdrawn.application_no, with_for_update=True)
    if row is None:
        # Its ApplicationRouted precedes it on the same topic and key: a fact out of place.
        raise NotFound("case_not_found", f"No case {withdrawn.application_no} to withdraw.")
    if row.status in OPEN:
        now = clock.now()
        row.status, row.reason = CaseStatus.WITHDRAWN, withdrawn.reason
        row.decided_at, row.decided_by = now, BUNDLE_MANAGER
        row.claimed_by = row.claimed_at = None
        await outbox.add(
            session,
            events.CaseWithdrawn(
                application_no=row.application_no,
                locality=row.locality,
                reason=withdrawn.reason,
                withdrawn_at=now,
            ),
        )
        return
    if row.status != CaseStatus.APPROVED:
        return  # rejected, withdrawn already, or handed on (the new locality's case has it)
    issued = (
        await session.scalars(
            select(CertificateRow)
            .where(
                CertificateRow.application_no == row.application_no,
                CertificateRow.kind == CERTIFICATE,
                CertificateRow.revoked_at.is_(None),
            )
            .with_for_update()
        )
    ).all()
    for certificate in issued:
        await revoke(session, outbox, certificate, withdrawn.reason, BUNDLE_MANAGER)
