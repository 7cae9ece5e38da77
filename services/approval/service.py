"""Approval's use cases: open a case for each application routed here, and let the competent
locality's approvers claim and decide it. Each takes the open transaction (one unit of work)
and raises domain errors; the API and the consumer are thin adapters over them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.approval.db import CaseRow, certificate_sequence
from services.approval.domain import (
    DeadlineClock,
    certificate_number,
    holder,
    serves,
)
from shared import clock
from shared.auth import Principal
from shared.db import insert_if_absent
from shared.errors import Conflict, Invalid, NotFound
from shared.identity import id_number_digest, mask_name
from shared.messaging import events, topics
from shared.messaging.outbox import Outbox
from shared.reference.localities import within_pattern
from shared.telemetry import Telemetry, current_traceparent
from shared.vocabulary import CaseStatus, Decision


async def open_case(
    session: AsyncSession, outbox: Outbox, routed: events.ApplicationRouted
) -> None:
    """A review case for an application routed to this locality; opened once however often the
    application arrives."""
    deadline_clock = DeadlineClock(
        routed.accepted_at.astimezone(clock.CHINA_TZ).date(), routed.statutory_days
    )
    now = clock.now()
    traceparent, _ = current_traceparent()
    opened = await insert_if_absent(
        session,
        CaseRow,
        application_no=routed.application_no,
        locality=routed.competent_locality,
        department=routed.department,
        item_code=routed.item_code,
        item_name=routed.item_name,
        status=CaseStatus.IN_REVIEW,
        accepted_on=deadline_clock.accepted_on,
        working_days=deadline_clock.working_days,
        deadline=deadline_clock.deadline,
        warning_on=deadline_clock.warning_on,
        opened_at=now,
        application=routed.model_dump(mode="json"),
        traceparent=traceparent,
    )
    if not opened:
        return  # the same application routed twice under two event ids: one case
    await outbox.add(
        session,
        events.CaseOpened(
            application_no=routed.application_no,
            locality=routed.competent_locality,
            deadline=deadline_clock.deadline,
            opened_at=now,
        ),
        topic=topics.APPROVAL_EVENTS,
    )


@dataclass(frozen=True)
class Supervised:
    warned: int
    overdue: int


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
    return Supervised(warned, overdue)


async def case_for(
    session: AsyncSession, application_no: str, approver: Principal, *, lock: bool = False
) -> CaseRow:
    """The case, if the approver's locality serves it; another locality's case is absent."""
    query = select(CaseRow).where(CaseRow.application_no == application_no)
    row = await session.scalar(query.with_for_update() if lock else query)
    if row is None or not serves(approver.locality, row.locality):
        raise NotFound("case_not_found", f"No case {application_no} in your locality.")
    return row


async def list_cases(
    session: AsyncSession,
    approver: Principal,
    *,
    status: CaseStatus | None = None,
    overdue: bool | None = None,
) -> list[CaseRow]:
    query = (
        select(CaseRow)
        .where(CaseRow.locality.like(within_pattern(approver.locality)))
        .order_by(CaseRow.deadline, CaseRow.application_no)
    )
    if status:
        query = query.where(CaseRow.status == status)
    if overdue is not None:
        late = (CaseRow.status == CaseStatus.IN_REVIEW) & (CaseRow.deadline < clock.today())
        query = query.where(late if overdue else ~late)
    return list(await session.scalars(query))


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
    """Command: the approver holding a case approves or rejects it."""

    application_no: str
    decision: Decision
    reason: str
    approver: Principal


async def decide(
    session: AsyncSession,
    outbox: Outbox,
    command: Decide,
    *,
    digest_key: bytes,
    telemetry: Telemetry,
    lapse: timedelta,
) -> CaseRow:
    row = await case_for(session, command.application_no, command.approver, lock=True)
    if row.status != CaseStatus.IN_REVIEW:
        raise Conflict("case_closed", f"The case is already {row.status}.")
    if holder(row.claimed_by, row.claimed_at, now=clock.now(), lapse=lapse) != command.approver.sub:
        raise Conflict(
            "not_claimed", "Claim the case before deciding it (a claim lapses when left idle)."
        )
    reason = command.reason.strip()
    if command.decision == Decision.REJECT and not reason:
        raise Invalid.of_field("reason_required", "A rejection must give its reason.", "reason")

    now = clock.now()
    routed = events.ApplicationRouted.model_validate(row.application)
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
        delivery=routed.delivery,
    )
    # The decision lands in the application's own trace, days after the window's POST.
    with telemetry.journey_span(
        f"case {command.decision}",
        row.traceparent,
        attributes={"tongban.application_no": row.application_no, "tongban.locality": row.locality},
    ):
        decided: events.ApplicationDecided
        if command.decision == Decision.APPROVE:
            sequence = int(await session.scalar(certificate_sequence.next_value()) or 0)
            row.certificate_no = certificate_number(row.locality, now.year, sequence)
            row.status = CaseStatus.APPROVED
            decided = events.ApplicationApproved(
                **common, certificate_no=row.certificate_no, item_name=row.item_name
            )
        else:
            row.status = CaseStatus.REJECTED
            decided = events.ApplicationRejected(**common)
        row.decision, row.reason = command.decision, reason or None
        row.decided_by, row.decided_at = command.approver.sub, now
        await outbox.add(session, decided, topic=topics.APPROVAL_EVENTS)
    return row
