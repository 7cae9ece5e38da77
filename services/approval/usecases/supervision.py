"""Approval's deadline supervision (限时办结): warnings, overdue cases and reminders of
deferred (容缺) materials, announced once per case; and the counts operators watch."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.approval.db import CaseRow
from services.approval.domain import DeadlineClock
from services.approval.usecases.cases import OPEN
from shared import clock
from shared.messaging import events
from shared.messaging.outbox import Outbox
from shared.vocabulary import CaseStatus


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
        await outbox.add(session, warning)
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
        await outbox.add(session, flagged)
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
        await outbox.add(session, reminder)
        reminded += 1
    return reminded


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
