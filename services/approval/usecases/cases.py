"""Approval's cases: opened for each application routed here, read, claimed and released by
the competent locality's approvers, and their scans read on record. Each takes the open
transaction (one unit of work) and raises domain errors."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.approval.db import (
    CaseRow,
    MaterialReadRow,
)
from services.approval.domain import (
    DeadlineClock,
    deferred_reminder_day,
    holder,
    serves,
)
from shared import clock
from shared.auth import Principal
from shared.crypto.personal import PersonalData, place
from shared.db import insert_if_absent
from shared.errors import Conflict, NotFound
from shared.i18n import N_, _
from shared.messaging import events
from shared.messaging.outbox import Outbox
from shared.pagination import MAX_PAGE, page
from shared.reference.localities import (
    LIKE_ESCAPE,
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
            routed.model_dump(mode="json"), where=application_place(routed.application_no)
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
    )


# Cases a locality still acts on: under review, or waiting for a supplement.
OPEN = (CaseStatus.IN_REVIEW, CaseStatus.SUPPLEMENT_REQUESTED)
# A case's status as a refusal's message says it to a person (details keep the code).
STATUS_WORDS = {
    CaseStatus.IN_REVIEW: N_("in review"),
    CaseStatus.SUPPLEMENT_REQUESTED: N_("waiting for a supplement"),
    CaseStatus.APPROVED: N_("approved"),
    CaseStatus.REJECTED: N_("rejected"),
    CaseStatus.TRANSFERRED: N_("transferred"),
}


@dataclass(frozen=True)
class Case:
    """A case as its locality sees it: where it stands against its deadline, who holds it; the
    routed application in clear (and the supplements) only when an approver opens it."""

    application_no: str
    locality: str
    department: str
    item_code: str
    item_name: str
    status: CaseStatus
    accepted_on: date
    # What the applicant was promised (承诺时限) and what the law allows (法定时限).
    promised_date: date
    deadline: date
    warning: bool
    overdue: bool
    warned_at: datetime | None
    overdue_at: datetime | None
    claimed_by: str | None
    # 补正: what was asked for while the clock is paused, and the working days paused so far.
    requested_materials: list[str] | None
    paused_working_days: int
    # 容缺: deferred materials still outstanding and their due day.
    deferred: list[str]
    deferred_due_on: date | None
    transferred_to: str | None
    decision: Decision | None
    reason: str | None
    override_reason: str | None
    decided_at: datetime | None
    certificate_no: str | None
    application: dict[str, Any] | None = None
    supplements: list[dict[str, Any]] | None = None


def case_of(row: CaseRow, *, lapse: timedelta, personal: PersonalData | None = None) -> Case:
    """The case of `row` now; with `personal`, the detail (the application in clear)."""
    now = clock.now()
    today = now.date()
    deadline_clock = DeadlineClock(row.accepted_on, row.working_days, row.paused_working_days)
    open_ = row.status == CaseStatus.IN_REVIEW
    return Case(
        application_no=row.application_no,
        locality=row.locality,
        department=row.department,
        item_code=row.item_code,
        item_name=row.item_name,
        status=CaseStatus(row.status),
        accepted_on=row.accepted_on,
        promised_date=date.fromisoformat(str(row.application["promised_date"])),
        deadline=row.deadline,
        warned_at=row.warned_at,
        overdue_at=row.overdue_at,
        warning=open_ and deadline_clock.warning(today),
        overdue=open_ and deadline_clock.overdue(today),
        claimed_by=holder(row.claimed_by, row.claimed_at, now=now, lapse=lapse),
        requested_materials=row.requested_materials,
        paused_working_days=row.paused_working_days,
        deferred=row.deferred,
        deferred_due_on=row.deferred_due_on,
        transferred_to=row.transferred_to,
        decision=Decision(row.decision) if row.decision else None,
        reason=row.reason,
        override_reason=row.override_reason,
        decided_at=row.decided_at,
        certificate_no=row.certificate_no,
        application=application_of(row, personal) if personal is not None else None,
        supplements=row.supplements if personal is not None else None,
    )


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
        raise NotFound(
            "case_not_found",
            _("No case {application_no} in your locality.", application_no=application_no),
        )
    return row


async def view_case(
    session: AsyncSession,
    outbox: Outbox,
    application_no: str,
    approver: Principal,
    *,
    telemetry: Telemetry,
    lapse: timedelta,
) -> Case:
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
        await outbox.add(session, viewed)
    return case_of(row, lapse=lapse, personal=outbox.personal_data())


async def list_cases(
    session: AsyncSession,
    approver: Principal,
    *,
    lapse: timedelta,
    status: CaseStatus | None = None,
    overdue: bool | None = None,
    limit: int = MAX_PAGE,
    cursor: str | None = None,
) -> tuple[list[Case], str | None]:
    """The caller's locality's cases, the nearest deadline first, a page at a time."""
    query = select(CaseRow).where(
        CaseRow.locality.like(within_pattern(approver.locality), escape=LIKE_ESCAPE)
    )
    if status:
        query = query.where(CaseRow.status == status)
    if overdue is not None:
        late = (CaseRow.status == CaseStatus.IN_REVIEW) & (CaseRow.deadline < clock.today())
        query = query.where(late if overdue else ~late)
    rows, next_cursor = await page(
        session, query, [CaseRow.deadline, CaseRow.application_no], limit=limit, cursor=cursor
    )
    return [case_of(row, lapse=lapse) for row in rows], next_cursor


async def operations_queue(
    session: AsyncSession,
    operator: Principal,
    *,
    lapse: timedelta,
    locality: str | None = None,
    status: CaseStatus | None = None,
    overdue: bool | None = None,
    limit: int = MAX_PAGE,
    cursor: str | None = None,
) -> tuple[list[Case], str | None]:
    """A locality's queue for operators: `list_cases` of `locality` (the operator's own by
    default); a locality outside the operator's has no cases for them."""
    scope = locality or operator.locality
    if not is_within(scope, operator.locality):
        return [], None
    return await list_cases(
        session,
        operator.model_copy(update={"locality": scope}),
        lapse=lapse,
        status=status,
        overdue=overdue,
        limit=limit,
        cursor=cursor,
    )


async def claim_case(
    session: AsyncSession, application_no: str, approver: Principal, *, lapse: timedelta
) -> Case:
    """Hold the case for review; the holder claiming again renews the claim."""
    row = await case_for(session, application_no, approver, lock=True)
    if row.status != CaseStatus.IN_REVIEW:
        raise Conflict("case_closed", _closed(row))
    now = clock.now()
    held_by = holder(row.claimed_by, row.claimed_at, now=now, lapse=lapse)
    if held_by not in (None, approver.sub):
        raise Conflict(
            "case_claimed", _("Another approver holds this case."), {"claimed_by": held_by}
        )
    row.claimed_by = approver.sub
    row.claimed_at = now
    return case_of(row, lapse=lapse)


async def release_case(
    session: AsyncSession, application_no: str, approver: Principal, *, lapse: timedelta
) -> Case:
    """Give the case back, so another approver of the locality can take it."""
    row = await case_for(session, application_no, approver, lock=True)
    if holder(row.claimed_by, row.claimed_at, now=clock.now(), lapse=lapse) != approver.sub:
        raise Conflict("not_claimed", _("You do not hold this case."))
    row.claimed_by, row.claimed_at = None, None
    return case_of(row, lapse=lapse)


async def held_open_case(
    session: AsyncSession, application_no: str, approver: Principal, *, lapse: timedelta
) -> CaseRow:
    """The case, locked, if it is in review and `approver` holds it: what a decision or a
    transfer acts on."""
    row = await case_for(session, application_no, approver, lock=True)
    if row.status != CaseStatus.IN_REVIEW:
        raise Conflict("case_closed", _closed(row), {"status": row.status})
    if holder(row.claimed_by, row.claimed_at, now=clock.now(), lapse=lapse) != approver.sub:
        raise Conflict(
            "not_claimed", _("Claim the case before acting on it (a claim lapses when left idle).")
        )
    return row


def _closed(row: CaseRow) -> str:
    return _("The case is already {status}.", status=_(STATUS_WORDS[CaseStatus(row.status)]))


def application_place(application_no: str) -> str:
    """Where a case's application (its personal parts) is bound (their AAD)."""
    return place("approval.cases.application", application_no)


def application_of(row: CaseRow, personal: PersonalData) -> dict[str, Any]:
    """The routed application of the case in clear (the approver's to read)."""
    return personal.open_fields(row.application, where=application_place(row.application_no))


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
) -> None:
    """An approver of the competent locality reads one of the case's scans: allowed only for
    the case's own scans, and recorded (who, which, when) before the bytes leave."""
    row = await case_for(session, application_no, approver)
    if row.status == CaseStatus.TRANSFERRED or sha256 not in referenced_scans(
        row, outbox.personal_data()
    ):
        raise NotFound(
            "material_not_found",
            _(
                "Case {application_no} has no scan {sha256}.",
                application_no=application_no,
                sha256=sha256,
            ),
        )
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
    await outbox.add(session, read)
