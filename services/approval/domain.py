"""Approval's rules: statutory deadlines in working days (限时办结), who holds a case, and who
may act on it."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from shared.reference.localities import is_within
from shared.workdays import add_working_days, last_working_day_before, working_days_between

WARNING_SHARE = 0.75  # warn once three quarters of the working days are used


@dataclass(frozen=True)
class DeadlineClock:
    """The statutory clock of one case: `working_days` from acceptance, not counting the
    `paused_days` spent waiting for a supplement (补正 stops the clock)."""

    accepted_on: date
    working_days: int
    paused_days: int = 0

    @property
    def deadline(self) -> date:
        return add_working_days(self.accepted_on, self.working_days + self.paused_days)

    def used(self, today: date) -> int:
        return max(0, working_days_between(self.accepted_on, today) - self.paused_days)

    def resumed(self, paused_on: date, today: date) -> DeadlineClock:
        """The clock after a pause from `paused_on` to `today`: the working days in between
        do not count against the case."""
        paused = working_days_between(paused_on, today)
        return DeadlineClock(self.accepted_on, self.working_days, self.paused_days + paused)

    def warning(self, today: date) -> bool:
        return self.used(today) >= WARNING_SHARE * self.working_days

    @property
    def warning_on(self) -> date:
        """The first day on which `warning` holds: stored with the case, so the scheduler finds
        the cases to warn with one indexed comparison instead of counting working days."""
        return add_working_days(
            self.accepted_on, math.ceil(WARNING_SHARE * self.working_days) + self.paused_days
        )

    def overdue(self, today: date) -> bool:
        return today > self.deadline


def holder(
    claimed_by: str | None, claimed_at: datetime | None, *, now: datetime, lapse: timedelta
) -> str | None:
    """Who holds a case now: a claim lapses `lapse` after it was made (claiming again renews
    it), so a case never stays with an approver who went home."""
    if claimed_by is None or claimed_at is None:
        return None
    return claimed_by if now - claimed_at < lapse else None


def serves(approver_locality: str, case_locality: str) -> bool:
    """Approvers act on their own locality's cases (a city's also on its counties')."""
    return is_within(case_locality, approver_locality)


def certificate_number(locality: str, year: int, sequence: int) -> str:
    return f"ZZ{locality}{year}{sequence:07d}"


def rejection_notice_number(locality: str, year: int, sequence: int) -> str:
    """不予许可决定书: numbered like certificates, from a sequence of their own."""
    return f"BY{locality}{year}{sequence:07d}"


def valid_until(issued_on: date, years: int) -> date | None:
    """The last day a certificate is valid, `years` after its issue; None (长期有效) for 0. A
    certificate issued on 29 February runs to 28 February of a year without one."""
    if years == 0:
        return None
    try:
        return issued_on.replace(year=issued_on.year + years)
    except ValueError:
        return issued_on.replace(year=issued_on.year + years, day=28)


def deferred_reminder_day(due_on: date) -> date:
    """容缺: the applicant is reminded on the working day before deferred materials are due."""
    return last_working_day_before(due_on)
