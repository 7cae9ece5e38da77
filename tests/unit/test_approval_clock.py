"""Approval's rules: 限时办结 deadlines in working days, who serves a case, certificate numbers.

Dates are real: 2025 National Day (Oct 1-8 off, Sunday Sep 28 and Saturday Oct 11 worked) and
2026 Spring Festival (Feb 15-23 off, Saturdays Feb 14 and Feb 28 worked).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from services.approval.domain import (
    DeadlineClock,
    certificate_number,
    holder,
    serves,
)
from shared.reference.localities import within_pattern as served_pattern

D = date

# Accepted Tuesday Sep 30 2025 with 5 working days: Oct 9, 10, 11 (make-up Saturday), 13, 14.
NATIONAL_DAY = DeadlineClock(accepted_on=D(2025, 9, 30), working_days=5)


def test_the_deadline_skips_the_national_day_holiday_and_counts_the_make_up_saturday() -> None:
    assert NATIONAL_DAY.deadline == D(2025, 10, 14)


def test_the_deadline_over_spring_festival_2026() -> None:
    # Accepted Friday Feb 13: Feb 14 (make-up Saturday), then Feb 24, 25, 26, 27.
    assert DeadlineClock(accepted_on=D(2026, 2, 13), working_days=5).deadline == D(2026, 2, 27)


def test_an_ordinary_month_counts_weekdays() -> None:
    # Accepted Monday Jun 9 2025, 20 working days: Jun 10 ... Jul 7 (no holiday in between).
    assert DeadlineClock(accepted_on=D(2025, 6, 9), working_days=20).deadline == D(2025, 7, 7)


def test_the_acceptance_day_itself_does_not_count() -> None:
    assert DeadlineClock(accepted_on=D(2025, 6, 10), working_days=1).deadline == D(2025, 6, 11)
    assert DeadlineClock(accepted_on=D(2025, 6, 13), working_days=1).deadline == D(2025, 6, 16)


@pytest.mark.parametrize(
    ("today", "used"),
    [
        (D(2025, 9, 30), 0),
        (D(2025, 10, 1), 0),
        (D(2025, 10, 8), 0),  # the whole holiday uses no time
        (D(2025, 10, 9), 1),
        (D(2025, 10, 11), 3),  # the make-up Saturday uses a day
        (D(2025, 10, 12), 3),  # an ordinary Sunday does not
        (D(2025, 10, 14), 5),
    ],
)
def test_only_working_days_are_used(today: date, used: int) -> None:
    assert NATIONAL_DAY.used(today) == used


@pytest.mark.parametrize(
    ("today", "warning"),
    [
        (D(2025, 10, 5), False),  # during the holiday
        (D(2025, 10, 10), False),  # 2 of 5 used
        (D(2025, 10, 11), False),  # 3 of 5 used: 60%
        (D(2025, 10, 12), False),  # still 3 (Sunday)
        (D(2025, 10, 13), True),  # 4 of 5 used: past 75%
        (D(2025, 10, 14), True),  # the deadline day
        (D(2025, 10, 20), True),  # and beyond
    ],
)
def test_the_warning_comes_once_three_quarters_of_the_time_is_used(
    today: date, warning: bool
) -> None:
    assert NATIONAL_DAY.warning(today) is warning


def test_the_warning_for_twenty_days_comes_on_the_fifteenth_working_day() -> None:
    clock = DeadlineClock(accepted_on=D(2025, 6, 9), working_days=20)
    assert not clock.warning(D(2025, 6, 27))  # 14 used
    assert clock.warning(D(2025, 6, 30))  # 15 used, exactly 75%


@pytest.mark.parametrize(
    ("today", "overdue"),
    [
        (D(2025, 10, 1), False),
        (D(2025, 10, 13), False),
        (D(2025, 10, 14), False),  # decided on the deadline day is in time
        (D(2025, 10, 15), True),
        (D(2025, 11, 30), True),
    ],
)
def test_a_case_is_overdue_only_after_its_deadline_day(today: date, overdue: bool) -> None:
    assert NATIONAL_DAY.overdue(today) is overdue


def test_overdue_around_a_holiday_follows_the_deadline_day() -> None:
    # Accepted Sep 29 with 1 working day: due Sep 30; the holiday then starts, but the due date
    # has passed, so Oct 1 is already late.
    clock = DeadlineClock(accepted_on=D(2025, 9, 29), working_days=1)
    assert clock.deadline == D(2025, 9, 30)
    assert not clock.overdue(D(2025, 9, 30))
    assert clock.overdue(D(2025, 10, 1))
    # With 2 working days the holiday is skipped and nothing is late during it.
    clock = DeadlineClock(accepted_on=D(2025, 9, 29), working_days=2)
    assert clock.deadline == D(2025, 10, 9)
    assert not any(clock.overdue(D(2025, 10, day)) for day in range(1, 10))


# --- who may act on a case -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("approver", "case", "expected"),
    [
        ("341200", "341200", True),  # its own city
        ("341200", "341202", True),  # a city's approver also serves its counties
        ("341200", "341282", True),
        ("341202", "341202", True),  # a county's own cases
        ("341202", "341200", False),  # a county does not act for its city
        ("341202", "341203", False),  # nor for a sibling county
        ("340100", "341200", False),  # 合肥 never acts on 阜阳's cases
        ("340100", "341202", False),
        ("341200", "*", False),
        ("*", "341200", False),
    ],
)
def test_approvers_serve_their_own_localitys_cases(
    approver: str, case: str, expected: bool
) -> None:
    assert serves(approver, case) is expected


# --- certificate numbers ---------------------------------------------------------------------


def test_certificate_number_is_zz_locality_year_and_sequence() -> None:
    assert certificate_number("341200", 2025, 1) == "ZZ34120020250000001"
    assert certificate_number("340104", 2026, 1234567) == "ZZ34010420261234567"


def test_certificate_numbers_differ_by_locality_year_and_sequence() -> None:
    numbers = {
        certificate_number("341200", 2025, 1),
        certificate_number("340100", 2025, 1),
        certificate_number("341200", 2026, 1),
        certificate_number("341200", 2025, 2),
    }
    assert len(numbers) == 4
    assert all(len(number) == 19 for number in numbers)


@pytest.mark.parametrize(
    ("approver", "case", "expected"),
    [
        ("340100", "340104", True),
        ("340100", "340100", True),
        ("340000", "341226", True),
        ("340104", "340104", True),
        ("340104", "340100", False),
        ("340100", "341200", False),
    ],
)
def test_the_sql_pattern_of_the_served_cases_agrees_with_serves(
    approver: str, case: str, expected: bool
) -> None:
    pattern = served_pattern(approver)
    matches = case.startswith(pattern[:-1]) if pattern.endswith("%") else case == pattern
    assert matches is expected
    assert serves(approver, case) is expected


# --- who holds a case ---------------------------------------------------------------------------

CLAIMED = datetime(2025, 6, 13, 9, 0, tzinfo=UTC)
LAPSE = timedelta(hours=4)


def test_a_claim_holds_until_it_lapses() -> None:
    assert holder("a", CLAIMED, now=CLAIMED + timedelta(hours=3, minutes=59), lapse=LAPSE) == "a"
    assert holder("a", CLAIMED, now=CLAIMED + LAPSE, lapse=LAPSE) is None


def test_an_unclaimed_case_has_no_holder() -> None:
    assert holder(None, None, now=CLAIMED, lapse=LAPSE) is None


@pytest.mark.parametrize("working_days", [1, 4, 5, 15, 20, 60])
@pytest.mark.parametrize("accepted_on", [date(2025, 9, 26), date(2025, 12, 31), date(2026, 2, 13)])
def test_the_stored_warning_day_is_the_first_day_the_warning_holds(
    accepted_on: date, working_days: int
) -> None:
    # 2025-09-26 runs into the National Day week, 2026-02-13 into the Spring Festival.
    clock = DeadlineClock(accepted_on, working_days)
    first = next(
        accepted_on + timedelta(days=n)
        for n in range(400)
        if clock.warning(accepted_on + timedelta(days=n))
    )
    assert clock.warning_on == first
