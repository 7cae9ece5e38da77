"""Working days with real Chinese holidays and make-up working days (调休)."""

from __future__ import annotations

import datetime

import pytest

from shared.workdays import (
    HOLIDAY_DATA_YEARS,
    add_working_days,
    is_working_day,
    working_days_between,
)

D = datetime.date


def test_holiday_data_covers_the_years_in_use() -> None:
    first, last = HOLIDAY_DATA_YEARS
    assert first <= 2025 <= last


def test_2025_national_day_and_its_make_up_days() -> None:
    # 2025: Oct 1-8 off; Sunday Sep 28 and Saturday Oct 11 are make-up working days.
    for day in range(1, 9):
        assert not is_working_day(D(2025, 10, day))
    assert is_working_day(D(2025, 9, 28))  # Sunday
    assert is_working_day(D(2025, 10, 11))  # Saturday
    assert not is_working_day(D(2025, 9, 27))  # an ordinary Saturday
    assert not is_working_day(D(2025, 10, 12))  # an ordinary Sunday


def test_ordinary_week() -> None:
    assert is_working_day(D(2025, 6, 13))  # Friday
    assert not is_working_day(D(2025, 6, 14))
    assert add_working_days(D(2025, 6, 13), 1) == D(2025, 6, 16)  # Friday -> Monday


def test_start_day_does_not_count_and_zero_days_is_the_start() -> None:
    assert add_working_days(D(2025, 6, 10), 1) == D(2025, 6, 11)
    assert add_working_days(D(2025, 6, 10), 0) == D(2025, 6, 10)
    # Even when accepted on a holiday, zero days is that day.
    assert add_working_days(D(2025, 10, 3), 0) == D(2025, 10, 3)


def test_add_working_days_across_national_day() -> None:
    # Accepted Friday Sep 26: the next working day is the make-up Sunday.
    assert add_working_days(D(2025, 9, 26), 1) == D(2025, 9, 28)
    # Accepted Tuesday Sep 30: the whole holiday is skipped.
    assert add_working_days(D(2025, 9, 30), 1) == D(2025, 10, 9)
    # ... and the make-up Saturday counts.
    assert add_working_days(D(2025, 9, 30), 3) == D(2025, 10, 11)
    assert add_working_days(D(2025, 9, 30), 4) == D(2025, 10, 13)
    # Accepted during the holiday: counting starts after it.
    assert add_working_days(D(2025, 10, 2), 1) == D(2025, 10, 9)


def test_promised_five_days_over_spring_festival_2026() -> None:
    # 2026: Feb 15-23 off; Saturdays Feb 14 and Feb 28 are make-up working days.
    assert add_working_days(D(2026, 2, 12), 2) == D(2026, 2, 14)
    assert add_working_days(D(2026, 2, 12), 5) == D(2026, 2, 26)


def test_working_days_between() -> None:
    assert working_days_between(D(2025, 9, 30), D(2025, 10, 13)) == 4
    # Sep 28, 29, 30, Oct 9, 10, 11, 13.
    assert working_days_between(D(2025, 9, 26), D(2025, 10, 13)) == 7
    assert working_days_between(D(2025, 10, 1), D(2025, 10, 8)) == 0
    assert working_days_between(D(2025, 10, 13), D(2025, 10, 13)) == 0
    assert working_days_between(D(2025, 10, 13), D(2025, 9, 1)) == 0


@pytest.mark.parametrize("start", [D(2025, 9, 20), D(2025, 9, 30), D(2025, 12, 25), D(2026, 2, 10)])
@pytest.mark.parametrize("days", [0, 1, 3, 5, 20, 60])
def test_between_inverts_add(start: datetime.date, days: int) -> None:
    due = add_working_days(start, days)
    assert working_days_between(start, due) == days
    assert days == 0 or is_working_day(due)


def test_negative_days_are_refused() -> None:
    with pytest.raises(ValueError):
        add_working_days(D(2025, 6, 10), -1)


def test_datetime_is_treated_as_its_day() -> None:
    accepted = datetime.datetime(2025, 9, 30, 16, 45)
    assert add_working_days(accepted, 1) == D(2025, 10, 9)
    assert working_days_between(accepted, D(2025, 10, 9)) == 1


def test_beyond_the_data_falls_back_to_monday_to_friday() -> None:
    first, last = HOLIDAY_DATA_YEARS
    for year in (first - 1, last + 1):
        day = D(year, 1, 1)
        while day.year == year:
            assert is_working_day(day) == (day.weekday() < 5)
            day += datetime.timedelta(days=1)


def test_deadline_running_past_the_data() -> None:
    last = HOLIDAY_DATA_YEARS[1]
    start = D(last, 12, 31)
    due = add_working_days(start, 10)
    assert due.year == last + 1
    # In the fallback year exactly the weekdays count.
    expected = start
    remaining = 10
    while remaining:
        expected += datetime.timedelta(days=1)
        if expected.year == last and not is_working_day(expected):
            continue
        if expected.year > last and expected.weekday() >= 5:
            continue
        remaining -= 1
    assert due == expected
