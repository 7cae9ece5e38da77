"""Approval's use cases: open a case for each application routed here, and let the competent
locality's approvers claim and decide it. Each takes the open transaction (one unit of work)
and raises domain errors; the API and the consumer are thin adapters over them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.approval.db import (
    CaseRow,
    CertificateRow,
    MaterialReadRow,
    certificate_sequence,
    rejection_notice_sequence,
)
from services.approval.domain import (
    DeadlineClock,
    certificate_number,
    deferred_reminder_day,
    holder,
    rejection_notice_number,
    serves,
    valid_until,
)
from services.approval.seals import Seals
from shared import certificates, clock
from shared.auth import Principal
from shared.certificates import CertificateContent, Content, RejectionNoticeContent
from shared.crypto.personal import PersonalData, place
from shared.db import insert_if_absent
from shared.errors import Conflict, Invalid, NotFound, problem
from shared.identity import id_number_digest, mask_name
from shared.messaging import events, topics
from shared.messaging.outbox import Outbox
from shared.pagination import MAX_PAGE, page
from shared.reference.catalog import get_item
from shared.reference.localities import (
    LIKE_ESCAPE,
    is_known_locality,
    is_within,
    within_pattern,
)
from shared.telemetry import Telemetry, current_traceparent
from shared.vocabulary import CaseStatus, Decision


async def open_case(
    session: AsyncSession, outbox: Outbox, routed: events.ApplicationRouted
) -> None:
    """A review case for an application routed to this locality; opened once however often the
    application arrives. A case this service handed to another locality (移交) and that comes
    back routed to that locality is reopened there."""
    deadline_clock = DeadlineClock(
        routed.accepted_at.astimezone(clock.CHINA_TZ).date(), routed.statutory_days
    )
    now = clock.now()
    traceparent, _ = current_traceparent()
    review = dict(
        locality=routed.competent_locality,
        department=routed.department,
        status=CaseStatus.IN_REVIEW,
        opened_at=now,
        # The personal parts (applicant, delivery, agent) encrypted, bound to this case.
        application=outbox.personal_data().seal_fields(
            routed.model_dump(mode="json"), where=stored_at(routed.application_no)
        ),
    )
    opened = await insert_if_absent(
        session,
        CaseRow,
        application_no=routed.application_no,
        item_code=routed.item_code,
        item_name=routed.item_name,
        accepted_on=deadline_clock.accepted_on,
        working_days=deadline_clock.working_days,
        deadline=deadline_clock.deadline,
        warning_on=deadline_clock.warning_on,
        traceparent=traceparent,
        deferred=routed.deferred,
        deferred_due_on=routed.deferred_due_on if routed.deferred else None,
        deferred_remind_on=(
            deferred_reminder_day(routed.deferred_due_on)
            if routed.deferred and routed.deferred_due_on
            else None
        ),
        **review,
    )
    deadline = deadline_clock.deadline
    if not opened:
        row = await session.get(CaseRow, routed.application_no, with_for_update=True)
        if row is None or not (
            row.status == CaseStatus.TRANSFERRED and row.transferred_to == routed.competent_locality
        ):
            return  # the same application routed twice under two event ids: one case
        # 移交 within the localities this service serves: the same case, another locality.
        for name, value in review.items():
            setattr(row, name, value)
        row.claimed_by = row.claimed_at = row.transferred_to = None
        deadline = row.deadline
    await outbox.add(
        session,
        events.CaseOpened(
            application_no=routed.application_no,
            locality=routed.competent_locality,
            deadline=deadline,
            opened_at=now,
        ),
        topic=topics.APPROVAL_EVENTS,
    )


@dataclass(frozen=True)
class Supervised:
    warned: int
    overdue: int
    reminded: int = 0


async def supervise_deadlines(
    session: AsyncSession, outbox: Outbox, *, batch: int = 500
) -> Supervised:
    """限时办结: announce, once per case, that three quarters of its working days are used, and
    that its deadline passed. The flag and the event are written in one transaction, over rows
    locked with SKIP LOCKED: two approval instances on one database never announce one case
    twice, and a restart finds the flags where it left them."""
    now = clock.now()
    today = now.date()
    due = await session.scalars(
        select(CaseRow)
        .where(
            CaseRow.status == CaseStatus.IN_REVIEW,
            CaseRow.warned_at.is_(None),
            CaseRow.warning_on <= today,
        )
        .order_by(CaseRow.warning_on)
        .limit(batch)
        .with_for_update(skip_locked=True)
    )
    warned = 0
    for row in due:
        row.warned_at = now
        deadline_clock = DeadlineClock(row.accepted_on, row.working_days)
        warning = events.CaseDeadlineWarning(
            application_no=row.application_no,
            locality=row.locality,
            deadline=row.deadline,
            working_days=row.working_days,
            used_working_days=deadline_clock.used(today),
            warned_at=now,
        )
        await outbox.add(session, warning, topic=topics.APPROVAL_EVENTS)
        warned += 1
    late = await session.scalars(
        select(CaseRow)
        .where(
            CaseRow.status == CaseStatus.IN_REVIEW,
            CaseRow.overdue_at.is_(None),
            CaseRow.warned_at.is_not(None),  # a case is warned before it is called overdue
            CaseRow.deadline < today,
        )
        .order_by(CaseRow.deadline)
        .limit(batch)
        .with_for_update(skip_locked=True)
    )
    overdue = 0
    for row in late:
        row.overdue_at = now
        flagged = events.CaseOverdue(
            application_no=row.application_no,
            locality=row.locality,
            deadline=row.deadline,
            overdue_at=now,
        )
        await outbox.add(session, flagged, topic=topics.APPROVAL_EVENTS)
        overdue += 1
    reminded = await _remind_deferred(session, outbox, today=today, batch=batch)
    return Supervised(warned, overdue, reminded)


async def _remind_deferred(
    session: AsyncSession, outbox: Outbox, *, today: date, batch: int
) -> int:
    """容缺: once per case, remind that deferred materials are due (the working day before
    their due day, or at once if that passed)."""
    now = clock.now()
    due = await session.scalars(
        select(CaseRow)
        .where(
            CaseRow.status.in_(OPEN),
            CaseRow.deferred_reminded_at.is_(None),
            CaseRow.deferred_remind_on <= today,
        )
        .order_by(CaseRow.deferred_remind_on)
        .limit(batch)
        .with_for_update(skip_locked=True)
    )
    reminded = 0
    for row in due:
        row.deferred_reminded_at = now
        if not row.deferred or row.deferred_due_on is None:
            continue
        reminder = events.CaseDeferredReminder(
            application_no=row.application_no,
            locality=row.locality,
            materials=row.deferred,
            due_on=row.deferred_due_on,
            reminded_at=now,
        )
        await outbox.add(session, reminder, topic=topics.APPROVAL_EVENTS)
        reminded += 1
    return reminded


# Cases a locality still acts on: under review, or waiting for a supplement.
OPEN = (CaseStatus.IN_REVIEW, CaseStatus.SUPPLEMENT_REQUESTED)


async def case_for(
    session: AsyncSession, application_no: str, approver: Principal, *, lock: bool = False
) -> CaseRow:
    """The case, if the approver's locality serves it; another locality's case is absent, and
    so is one this locality handed on (移交): the applicant's data is the new locality's now."""
    query = select(CaseRow).where(CaseRow.application_no == application_no)
    row = await session.scalar(query.with_for_update() if lock else query)
    if (
        row is None
        or not serves(approver.locality, row.locality)
        or row.status == CaseStatus.TRANSFERRED
    ):
        raise NotFound("case_not_found", f"No case {application_no} in your locality.")
    return row


async def view_case(
    session: AsyncSession,
    outbox: Outbox,
    application_no: str,
    approver: Principal,
    *,
    telemetry: Telemetry,
) -> CaseRow:
    """An approver opens the case, with the applicant's personal data: the view is recorded
    (who, when; never what) in the same transaction, for the audit ledger, in the
    application's own trace (like a decision)."""
    row = await case_for(session, application_no, approver)
    viewed = events.CaseViewed(
        application_no=application_no,
        locality=row.locality,
        viewed_by=approver.sub,
        viewer_locality=approver.locality,
        viewed_at=clock.now(),
    )
    attributes = {"tongban.application_no": application_no, "tongban.locality": row.locality}
    with telemetry.journey_span("case viewed", row.traceparent, attributes=attributes):
        await outbox.add(session, viewed, topic=topics.APPROVAL_EVENTS)
    return row


async def list_cases(
    session: AsyncSession,
    approver: Principal,
    *,
    status: CaseStatus | None = None,
    overdue: bool | None = None,
    limit: int = MAX_PAGE,
    cursor: str | None = None,
) -> tuple[list[CaseRow], str | None]:
    """The caller's locality's cases, the nearest deadline first, a page at a time."""
    query = select(CaseRow).where(
        CaseRow.locality.like(within_pattern(approver.locality), escape=LIKE_ESCAPE)
    )
    if status:
        query = query.where(CaseRow.status == status)
    if overdue is not None:
        late = (CaseRow.status == CaseStatus.IN_REVIEW) & (CaseRow.deadline < clock.today())
        query = query.where(late if overdue else ~late)
    return await page(
        session, query, [CaseRow.deadline, CaseRow.application_no], limit=limit, cursor=cursor
    )


async def operations_queue(
    session: AsyncSession,
    operator: Principal,
    *,
    locality: str | None = None,
    status: CaseStatus | None = None,
    overdue: bool | None = None,
    limit: int = MAX_PAGE,
    cursor: str | None = None,
) -> tuple[list[CaseRow], str | None]:
    """A locality's queue for operators: `list_cases` of `locality` (the operator's own by
    default); a locality outside the operator's has no cases for them."""
    scope = locality or operator.locality
    if not is_within(scope, operator.locality):
        return [], None
    return await list_cases(
        session,
        operator.model_copy(update={"locality": scope}),
        status=status,
        overdue=overdue,
        limit=limit,
        cursor=cursor,
    )


@dataclass(frozen=True)
class CaseCounts:
    """What operators watch (GET /metrics): cases per locality and status, and the cases in
    review that passed their warning day (not yet overdue) or their deadline."""

    by_status: dict[tuple[str, str], int]  # (locality, status) -> cases
    warning: dict[str, int]  # locality -> cases
    overdue: dict[str, int]


async def case_counts(session: AsyncSession) -> CaseCounts:
    """Two GROUP BY queries; `overdue` as `list_cases(overdue=True)` counts it."""
    today = clock.today()
    by_status = await session.execute(
        select(CaseRow.locality, CaseRow.status, func.count()).group_by(
            CaseRow.locality, CaseRow.status
        )
    )
    late = CaseRow.deadline < today
    flagged = await session.execute(
        select(
            CaseRow.locality,
            func.count().filter(CaseRow.warning_on <= today, ~late),
            func.count().filter(late),
        )
        .where(CaseRow.status == CaseStatus.IN_REVIEW)
        .group_by(CaseRow.locality)
    )
    warning: dict[str, int] = {}
    overdue: dict[str, int] = {}
    for locality, warned, past_deadline in flagged:
        warning[locality], overdue[locality] = int(warned), int(past_deadline)
    return CaseCounts(
        by_status={(loc, status): int(n) for loc, status, n in by_status},
        warning=warning,
        overdue=overdue,
    )


async def claim_case(
    session: AsyncSession, application_no: str, approver: Principal, *, lapse: timedelta
) -> CaseRow:
    """Hold the case for review; the holder claiming again renews the claim."""
    row = await case_for(session, application_no, approver, lock=True)
    if row.status != CaseStatus.IN_REVIEW:
        raise Conflict("case_closed", f"The case is already {row.status}.")
    now = clock.now()
    held_by = holder(row.claimed_by, row.claimed_at, now=now, lapse=lapse)
    if held_by not in (None, approver.sub):
        raise Conflict("case_claimed", "Another approver holds this case.", {"claimed_by": held_by})
    row.claimed_by = approver.sub
    row.claimed_at = now
    return row


async def release_case(
    session: AsyncSession, application_no: str, approver: Principal, *, lapse: timedelta
) -> CaseRow:
    """Give the case back, so another approver of the locality can take it."""
    row = await case_for(session, application_no, approver, lock=True)
    if holder(row.claimed_by, row.claimed_at, now=clock.now(), lapse=lapse) != approver.sub:
        raise Conflict("not_claimed", "You do not hold this case.")
    row.claimed_by, row.claimed_at = None, None
    return row


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


async def _held_open_case(
    session: AsyncSession, application_no: str, approver: Principal, *, lapse: timedelta
) -> CaseRow:
    row = await case_for(session, application_no, approver, lock=True)
    if row.status != CaseStatus.IN_REVIEW:
        raise Conflict("case_closed", f"The case is {row.status}.", {"status": row.status})
    if holder(row.claimed_by, row.claimed_at, now=clock.now(), lapse=lapse) != approver.sub:
        raise Conflict(
            "not_claimed", "Claim the case before acting on it (a claim lapses when left idle)."
        )
    return row


async def decide(
    session: AsyncSession,
    outbox: Outbox,
    command: Decide,
    *,
    digest_key: bytes,
    telemetry: Telemetry,
    lapse: timedelta,
    issuer: Issuer,
) -> CaseRow:
    row = await _held_open_case(session, command.application_no, command.approver, lapse=lapse)
    reason = command.reason.strip()
    if command.decision != Decision.APPROVE and not reason:
        raise Invalid.of_field(
            "reason_required", f"A {command.decision} decision must give its reason.", "reason"
        )
    # The decision lands in the application's own trace, days after the window's POST.
    with telemetry.journey_span(
        f"case {command.decision}",
        row.traceparent,
        attributes={"tongban.application_no": row.application_no, "tongban.locality": row.locality},
    ):
        if command.decision == Decision.REQUEST_SUPPLEMENT:
            await _request_supplement(session, outbox, row, command.materials, reason)
            return row
        override = command.override_reason.strip()
        if command.decision == Decision.APPROVE and row.deferred and not override:
            raise Conflict(
                "deferred_outstanding",
                "Deferred (容缺) materials are outstanding; approve them with an override_reason "
                "or wait for the supplement.",
                {"materials": row.deferred},
            )
        decided = await _decided_event(session, outbox, row, command, reason, digest_key, issuer)
        # Only an override that overrode something is kept.
        row.override_reason = override if row.deferred else None
        row.decision, row.reason = command.decision, reason or None
        row.decided_by, row.decided_at = command.approver.sub, decided.decided_at
        await outbox.add(session, decided, topic=topics.APPROVAL_EVENTS)
    return row


@dataclass(frozen=True)
class Issuer:
    """What a decision needs to issue its sealed document: the localities' seals, and how long
    a certificate is valid (settings.certificate_valid_years; 0: without limit)."""

    seals: Seals
    certificate_valid_years: int = 0


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


# The kinds of document in the registry.
CERTIFICATE = "certificate"
REJECTION_NOTICE = "rejection_notice"


def holder_name_at(number: str) -> str:
    return place("approval.certificates.holder_name", number)


async def _issue(session: AsyncSession, outbox: Outbox, content: Content, seals: Seals) -> None:
    """Seal `content` with its issuer's seal, keep it in the registry (the holder's name
    encrypted) and announce it province-wide (the name masked, and sealed for the printer)."""
    personal = outbox.personal_data()
    document_seal = certificates.seal(content, seals.signer(content.issuer_locality))
    stored = content.model_dump(mode="json")
    stored["holder_name"] = personal.encrypt(
        content.holder_name, where=holder_name_at(content.number)
    )
    is_certificate = isinstance(content, CertificateContent)
    expires = content.valid_until if isinstance(content, CertificateContent) else None
    session.add(
        CertificateRow(
            number=content.number,
            kind=CERTIFICATE if is_certificate else REJECTION_NOTICE,
            application_no=content.application_no,
            locality=content.issuer_locality,
            item_code=content.item_code,
            content=stored,
            seal_signer=document_seal.signer,
            seal_signature=document_seal.signature,
            issued_on=content.issued_on,
            valid_until=expires,
        )
    )
    published = certificates.published(content, document_seal, personal)
    issued: events.CertificateIssued | events.RejectionNoticeIssued
    if isinstance(content, CertificateContent):
        issued = events.CertificateIssued(
            application_no=content.application_no,
            locality=content.issuer_locality,
            certificate_no=content.number,
            item_code=content.item_code,
            holder_id_digest=content.holder_id_digest,
            issued_on=content.issued_on,
            valid_until=content.valid_until,
            document=published,
        )
    else:
        issued = events.RejectionNoticeIssued(
            application_no=content.application_no,
            locality=content.issuer_locality,
            notice_no=content.number,
            item_code=content.item_code,
            issued_on=content.issued_on,
            document=published,
        )
    await outbox.add(session, issued, topic=topics.APPROVAL_EVENTS)


@dataclass(frozen=True)
class IssuedDocument:
    """A registry entry with its content in clear (the holder's name opened)."""

    row: CertificateRow
    content: Content

    @property
    def seal(self) -> events.DocumentSeal:
        return events.DocumentSeal(signer=self.row.seal_signer, signature=self.row.seal_signature)


def _document_of(row: CertificateRow, personal: PersonalData) -> IssuedDocument:
    name = personal.decrypt(row.content["holder_name"], where=holder_name_at(row.number))
    return IssuedDocument(row, certificates.content_from({**row.content, "holder_name": name}))


async def _registry_entry(
    session: AsyncSession, number: str, approver: Principal, *, lock: bool = False
) -> CertificateRow:
    """The entry, if the caller's locality issued it; another locality's is absent."""
    query = select(CertificateRow).where(CertificateRow.number == number)
    row = await session.scalar(query.with_for_update() if lock else query)
    if row is None or not serves(approver.locality, row.locality):
        raise NotFound(
            "certificate_not_found", f"Your locality issued no certificate or notice {number}."
        )
    return row


async def view_certificate(
    session: AsyncSession, personal: PersonalData, number: str, approver: Principal
) -> IssuedDocument:
    return _document_of(await _registry_entry(session, number, approver), personal)


async def revoke_certificate(
    session: AsyncSession, outbox: Outbox, number: str, reason: str, approver: Principal
) -> IssuedDocument:
    """吊销/撤销: the issuing locality withdraws a certificate, once, with its reason; the
    province learns it (delivery stops verifying it, intake stops accepting it as cited)."""
    row = await _registry_entry(session, number, approver, lock=True)
    reason = reason.strip()
    if not reason:
        raise Invalid.of_field("reason_required", "A revocation must give its reason.", "reason")
    if row.kind != CERTIFICATE:
        raise Conflict("not_a_certificate", f"{number} is a {row.kind}, not a certificate.")
    if row.revoked_at is not None:
        raise Conflict(
            "already_revoked",
            f"Certificate {number} is already revoked.",
            {"revoked_at": row.revoked_at.isoformat()},
        )
    now = clock.now()
    row.revoked_at, row.revoked_reason, row.revoked_by = now, reason, approver.sub
    revoked = events.CertificateRevoked(
        application_no=row.application_no,
        locality=row.locality,
        certificate_no=number,
        reason=reason,
        revoked_by=approver.sub,
        revoked_at=now,
    )
    await outbox.add(session, revoked, topic=topics.APPROVAL_EVENTS)
    return _document_of(row, outbox.personal_data())


async def _request_supplement(
    session: AsyncSession, outbox: Outbox, row: CaseRow, materials: list[str], reason: str
) -> None:
    """补正: ask for materials and stop the clock until they come."""
    if not materials:
        raise Invalid.of_field(
            "materials_required", "Name the materials the applicant must supplement.", "materials"
        )
    item = get_item(row.item_code)
    if item is not None:
        unknown = [code for code in materials if item.material(code) is None]
        if unknown:
            raise Invalid(
                "unknown_material",
                "Not materials of this item: " + ", ".join(unknown),
                [
                    problem("unknown_material", "Not a material of this item.", material_code=c)
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
    await outbox.add(session, requested, topic=topics.APPROVAL_EVENTS)


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
        topic=topics.APPROVAL_EVENTS,
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
) -> CaseRow:
    row = await _held_open_case(session, command.application_no, command.approver, lapse=lapse)
    reason = command.reason.strip()
    problems = []
    if not reason:
        problems.append(("reason", "reason_required", "A transfer must give its reason."))
    if not is_known_locality(command.to_locality):
        problems.append(("to_locality", "unknown_locality", "Not a locality of the province."))
    elif command.to_locality == row.locality:
        problems.append(("to_locality", "same_locality", "The case is already here."))
    if problems:
        raise Invalid(
            "invalid_transfer",
            "The transfer cannot be made as asked.",
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
    await outbox.add(session, transferred, topic=topics.APPROVAL_EVENTS)
    return row


def stored_at(application_no: str) -> str:
    return place("approval.cases.application", application_no)


def application_of(row: CaseRow, personal: PersonalData) -> dict[str, Any]:
    """The routed application of the case in clear (the approver's to read)."""
    return personal.open_fields(row.application, where=stored_at(row.application_no))


def referenced_scans(row: CaseRow, personal: PersonalData) -> set[str]:
    """The scans this case refers to: its materials, the agent's letter, its supplements."""
    application = application_of(row, personal)
    scans = {m["sha256"] for m in application.get("materials", [])}
    if application.get("agent"):
        scans.add(application["agent"]["authorization_sha256"])
    scans.update(m["sha256"] for m in row.supplements)
    return scans


async def record_material_read(
    session: AsyncSession, outbox: Outbox, application_no: str, sha256: str, approver: Principal
) -> CaseRow:
    """An approver of the competent locality reads one of the case's scans: allowed only for
    the case's own scans, and recorded (who, which, when) before the bytes leave."""
    row = await case_for(session, application_no, approver)
    if row.status == CaseStatus.TRANSFERRED or sha256 not in referenced_scans(
        row, outbox.personal_data()
    ):
        raise NotFound("material_not_found", f"Case {application_no} has no scan {sha256}.")
    now = clock.now()
    session.add(
        MaterialReadRow(
            application_no=application_no,
            sha256=sha256,
            locality=row.locality,
            read_by=approver.sub,
            read_at=now,
        )
    )
    read = events.MaterialRead(
        application_no=application_no,
        locality=row.locality,
        sha256=sha256,
        read_by=approver.sub,
        read_at=now,
    )
    await outbox.add(session, read, topic=topics.APPROVAL_EVENTS)
    return row
