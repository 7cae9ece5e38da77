"""Approval's decisions: the approver holding a case approves, rejects, asks for a supplement
(补正) or hands the case to another locality (移交); the supplement handed in resumes the
review."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from services.approval.db import (
    CaseRow,
    certificate_sequence,
    rejection_notice_sequence,
)
from services.approval.domain import (
    DeadlineClock,
    certificate_number,
    rejection_notice_number,
    valid_until,
)
from services.approval.usecases.cases import OPEN, Case, application_of, case_of, held_open_case
from services.approval.usecases.certificates import Issuer, _issue
from shared import clock
from shared.auth import Principal
from shared.certificates import CertificateContent, RejectionNoticeContent
from shared.errors import Conflict, Invalid, NotFound, problem
from shared.i18n import N_, _
from shared.identity import id_number_digest, mask_name
from shared.messaging import events
from shared.messaging.outbox import Outbox
from shared.reference.catalog import get_item
from shared.reference.localities import is_known_locality
from shared.telemetry import Telemetry
from shared.vocabulary import CaseStatus, Decision

# What a decision without its reason is told (an approval needs none).
REASON_REQUIRED = {
    Decision.REJECT: N_("A rejection must give its reason."),
    Decision.REQUEST_SUPPLEMENT: N_("A request for a supplement must give its reason."),
}


@dataclass(frozen=True)
class Decide:
    """Command: the approver holding a case approves, rejects, or asks for a supplement."""

    application_no: str
    decision: Decision
    reason: str
    approver: Principal
    materials: list[str] = field(default_factory=list)
    # Approving with deferred (容缺) materials outstanding needs an explicit, recorded reason.
    override_reason: str = ""


async def decide(
    session: AsyncSession,
    outbox: Outbox,
    command: Decide,
    *,
    digest_key: bytes,
    telemetry: Telemetry,
    lapse: timedelta,
    issuer: Issuer,
) -> Case:
    row = await held_open_case(session, command.application_no, command.approver, lapse=lapse)
    reason = command.reason.strip()
    if command.decision != Decision.APPROVE and not reason:
        raise Invalid.of_field("reason_required", _(REASON_REQUIRED[command.decision]), "reason")
    # The decision lands in the application's own trace, days after the window's POST.
    with telemetry.journey_span(
        f"case {command.decision}",
        row.traceparent,
        attributes={"tongban.application_no": row.application_no, "tongban.locality": row.locality},
    ):
        if command.decision == Decision.REQUEST_SUPPLEMENT:
            await _request_supplement(session, outbox, row, command.materials, reason)
            return case_of(row, lapse=lapse)
        override = command.override_reason.strip()
        if command.decision == Decision.APPROVE and row.deferred and not override:
            raise Conflict(
                "deferred_outstanding",
                _(
                    "Deferred (容缺) materials are outstanding; approve them with an "
                    "override_reason or wait for the supplement."
                ),
                {"materials": row.deferred},
            )
        decided = await _decided_event(session, outbox, row, command, reason, digest_key, issuer)
        # Only an override that overrode something is kept.
        row.override_reason = override if row.deferred else None
        row.decision, row.reason = command.decision, reason or None
        row.decided_by, row.decided_at = command.approver.sub, decided.decided_at
        await outbox.add(session, decided)
    return case_of(row, lapse=lapse)


async def _decided_event(
    session: AsyncSession,
    outbox: Outbox,
    row: CaseRow,
    command: Decide,
    reason: str,
    digest_key: bytes,
    issuer: Issuer,
) -> events.ApplicationDecided:
    """The decision's event; its sealed document (certificate or rejection notice) is issued
    first, and announced before it on the same topic and key."""
    now = clock.now()
    personal = outbox.personal_data()
    routed = events.ApplicationRouted.model_validate(application_of(row, personal))
    # tongban.approval.events is read province-wide: the postal address goes sealed for
    # delivery, masked in `delivery`.
    address = routed.delivery.address
    postal_address = (
        events.Sealed.model_validate(
            personal.seal_for(
                "delivery", address.model_dump(mode="json"), context=row.application_no
            )
        )
        if address is not None
        else None
    )
    agent = routed.agent
    common = dict(
        application_no=row.application_no,
        locality=row.locality,
        item_code=row.item_code,
        decided_at=now,
        reason=reason or None,
        receiving_locality=routed.receiving_locality,
        window_id=routed.window_id,
        holder_name_masked=mask_name(routed.applicant.name),
        holder_id_digest=id_number_digest(routed.applicant.id_number, digest_key),
        delivery=events.masked_delivery(routed.delivery),
        postal_address=postal_address,
        agent_name_masked=mask_name(agent.name) if agent else None,
        agent_id_digest=id_number_digest(agent.id_number, digest_key) if agent else None,
        bundle_no=routed.bundle_no,
    )
    document = dict(
        application_no=row.application_no,
        item_code=row.item_code,
        item_name=row.item_name,
        holder_name=routed.applicant.name,
        holder_id_digest=common["holder_id_digest"],
        issuer_locality=row.locality,
        issuer_department=row.department,
        issued_on=now.date(),
    )
    if command.decision == Decision.APPROVE:
        sequence = int(await session.scalar(certificate_sequence.next_value()) or 0)
        row.certificate_no = certificate_number(row.locality, now.year, sequence)
        row.status = CaseStatus.APPROVED
        certificate = CertificateContent(
            **document,
            number=row.certificate_no,
            valid_until=valid_until(now.date(), issuer.certificate_valid_years),
        )
        await _issue(session, outbox, certificate, issuer.seals)
        return events.ApplicationApproved(
            **common, certificate_no=row.certificate_no, item_name=row.item_name
        )
    row.status = CaseStatus.REJECTED
    sequence = int(await session.scalar(rejection_notice_sequence.next_value()) or 0)
    notice = RejectionNoticeContent(
        **document,
        number=rejection_notice_number(row.locality, now.year, sequence),
        reason=reason,
    )
    await _issue(session, outbox, notice, issuer.seals)
    return events.ApplicationRejected(**common)


async def _request_supplement(
    session: AsyncSession, outbox: Outbox, row: CaseRow, materials: list[str], reason: str
) -> None:
    """补正: ask for materials and stop the clock until they come."""
    if not materials:
        raise Invalid.of_field(
            "materials_required",
            _("Name the materials the applicant must supplement."),
            "materials",
        )
    item = get_item(row.item_code)
    if item is not None:
        unknown = [code for code in materials if item.material(code) is None]
        if unknown:
            raise Invalid(
                "unknown_material",
                _("Not materials of this item: {codes}", codes=", ".join(unknown)),
                [
                    problem("unknown_material", _("Not a material of this item."), material_code=c)
                    for c in unknown
                ],
            )
    now = clock.now()
    row.status = CaseStatus.SUPPLEMENT_REQUESTED
    row.paused_on = now.date()
    row.requested_materials = list(dict.fromkeys(materials))
    row.reason = reason
    requested = events.CaseSupplementRequested(
        application_no=row.application_no,
        locality=row.locality,
        materials=row.requested_materials,
        reason=reason,
        requested_at=now,
    )
    await outbox.add(session, requested)


async def receive_supplement(
    session: AsyncSession, outbox: Outbox, supplement: events.SupplementRouted
) -> None:
    """Materials handed in at a window reach the case: deferred ones are no longer outstanding,
    and once every requested material is in, review resumes with the deadline moved by the
    working days the clock was paused."""
    row = await session.get(CaseRow, supplement.application_no, with_for_update=True)
    if row is None or row.status not in OPEN:
        raise NotFound(
            "case_not_open", f"No open case {supplement.application_no} takes a supplement."
        )
    handed_in = [m.model_dump(mode="json") for m in supplement.materials]
    row.supplements = [*row.supplements, *handed_in]
    codes = {m.material_code for m in supplement.materials}
    row.deferred = [code for code in row.deferred if code not in codes]
    if not row.deferred:
        row.deferred_remind_on = None
    if row.status != CaseStatus.SUPPLEMENT_REQUESTED:
        return
    row.requested_materials = [c for c in row.requested_materials or [] if c not in codes]
    if row.requested_materials or row.paused_on is None:
        return
    now = clock.now()
    resumed = DeadlineClock(row.accepted_on, row.working_days, row.paused_working_days).resumed(
        row.paused_on, now.date()
    )
    row.paused_working_days = resumed.paused_days
    row.deadline, row.warning_on = resumed.deadline, resumed.warning_on
    row.status, row.paused_on, row.requested_materials = CaseStatus.IN_REVIEW, None, None
    await outbox.add(
        session,
        events.CaseResumed(
            application_no=row.application_no,
            locality=row.locality,
            deadline=row.deadline,
            paused_working_days=row.paused_working_days,
            resumed_at=now,
        ),
    )


@dataclass(frozen=True)
class Transfer:
    """Command: 移交, the approver holding the case hands it to another locality."""

    application_no: str
    to_locality: str
    reason: str
    approver: Principal


async def transfer_case(
    session: AsyncSession, outbox: Outbox, command: Transfer, *, lapse: timedelta
) -> Case:
    row = await held_open_case(session, command.application_no, command.approver, lapse=lapse)
    reason = command.reason.strip()
    problems = []
    if not reason:
        problems.append(("reason", "reason_required", _("A transfer must give its reason.")))
    if not is_known_locality(command.to_locality):
        problems.append(("to_locality", "unknown_locality", _("Not a locality of the province.")))
    elif command.to_locality == row.locality:
        problems.append(("to_locality", "same_locality", _("The case is already here.")))
    if problems:
        raise Invalid(
            "invalid_transfer",
            _("The transfer cannot be made as asked."),
            [problem(code, message, field=where) for where, code, message in problems],
        )
    now = clock.now()
    row.status, row.transferred_to = CaseStatus.TRANSFERRED, command.to_locality
    row.claimed_by = row.claimed_at = None
    row.reason = reason
    transferred = events.CaseTransferred(
        application_no=row.application_no,
        from_locality=row.locality,
        to_locality=command.to_locality,
        reason=reason,
        transferred_by=command.approver.sub,
        transferred_at=now,
    )
    await outbox.add(session, transferred)
    return case_of(row, lapse=lapse)
