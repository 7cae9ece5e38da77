"""一件事: a bundle application failed (a required member rejected) is undone as legal acts,
not as a rollback. Every sibling that is an application and was not rejected is withdrawn
(ApplicationWithdrawn, through routing to the locality holding its case: approval closes a case
still in review as withdrawn, and revokes through the registry a certificate already issued,
each with the reason); a sibling still held is never released; and the applicant gets one
rejection for the bundle listing each member with its department's reason or what was undone.

Called by the process manager (bundle_manager.on_decision) in the consumer's transaction that
records the failing decision, once: the bundle's row is locked and its status moves from open to
failed in the same transaction, so a redelivery finds it failed and withdraws nothing twice."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.intake.bundle_db import BundleChildRow, BundleRow, ChildStatus
from services.intake.db import ApplicationRow, CatalogVersionRow
from services.intake.domain.bundles import APPROVED, REJECTED
from shared import clock
from shared.i18n import CHINESE, N_, translate
from shared.messaging import events
from shared.messaging.outbox import Outbox

WITHDRAWN = "withdrawn"  # a child's outcome once approval closed its case undecided

# What the bundle's rejection says of each member (its `outcome` there).
REJECTED_NOTE = "rejected"  # its department's reason
WITHDRAWN_NOTE = "withdrawn"  # its review closed undecided
REVOKED_NOTE = "revoked"  # approved: its certificates revoked
NOT_STARTED = "not_started"  # held: never released


def withdrawal_reason(bundle: BundleRow, rejected: Sequence[tuple[str, str]]) -> str:
    """Why the siblings are withdrawn, in the province's language: the required members
    rejected, each with its department."""
    members = "、".join(f"{name}（{department}）" for name, department in rejected)
    return translate(
        N_("The bundle application {bundle_no} ended: its required member {members} was rejected."),
        CHINESE,
        {"bundle_no": bundle.bundle_no, "members": members},
    )


async def fail(
    session: AsyncSession,
    bundle: BundleRow,
    children: Sequence[BundleChildRow],
    outbox: Outbox,
) -> None:
    """Withdraw every sibling that can be, and write the bundle's one rejection."""
    names = await _item_names(session, bundle.catalog_version)
    rejected = [
        (names.get(c.item_code, c.item_code), c.department)
        for c in sorted(children, key=lambda c: c.application_no)
        if c.required and c.outcome == REJECTED
    ]
    reason = withdrawal_reason(bundle, rejected)
    now = clock.now()
    for child in children:
        if child.outcome == REJECTED or child.withdrawn_at is not None:
            continue
        child.withdrawn_at = now
        if child.status == ChildStatus.HELD:
            continue  # never released: no application, no case, nothing to tell approval
        application = await session.get(ApplicationRow, child.application_no)
        assert application is not None, child.application_no
        await outbox.add(
            session,
            events.ApplicationWithdrawn(
                application_no=child.application_no,
                item_code=child.item_code,
                bundle_no=bundle.bundle_no,
                reason=reason,
                receiving_locality=application.receiving_locality,
                competent_locality=application.competent_locality,
                withdrawn_at=now,
            ),
        )
    bundle.rejection = {
        "issued_at": now.isoformat(),
        "reason": reason,
        "members": [
            member_note(child, names, reason) for child in sorted(children, key=_by_number)
        ],
    }


async def restate(
    session: AsyncSession, bundle: BundleRow, children: Sequence[BundleChildRow]
) -> None:
    """A sibling decided after the bundle failed (its decision crossed the withdrawal): the
    bundle's rejection lists its department's reason, or its certificates revoked, too."""
    if bundle.rejection is None:
        return
    names = await _item_names(session, bundle.catalog_version)
    reason = bundle.rejection["reason"]
    bundle.rejection = {
        **bundle.rejection,
        "members": [
            member_note(child, names, reason) for child in sorted(children, key=_by_number)
        ],
    }


def _by_number(child: BundleChildRow) -> str:
    return child.application_no


def member_note(child: BundleChildRow, names: dict[str, str], reason: str) -> dict[str, Any]:
    if child.outcome == REJECTED:
        note, said = REJECTED_NOTE, child.reason or ""
    elif child.status == ChildStatus.HELD:
        note, said = NOT_STARTED, reason
    elif child.outcome == APPROVED:
        note, said = REVOKED_NOTE, reason
    else:
        note, said = WITHDRAWN_NOTE, reason
    return {
        "application_no": child.application_no,
        "item_code": child.item_code,
        "item_name": names.get(child.item_code, child.item_code),
        "department": child.department,
        "competent_locality": child.competent_locality,
        "outcome": note,
        "reason": said,
    }


async def _item_names(session: AsyncSession, version: str) -> dict[str, str]:
    row = await session.get(CatalogVersionRow, version)
    return {item["item_code"]: item["name"] for item in (row.items if row else [])}
