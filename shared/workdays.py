"""Statutory working days (限时办结): time limits are counted in Chinese working days.

Public holidays and make-up working days (调休) come from the `chinesecalendar` package, which
only knows the years the State Council has already published. Outside those years we fall back
to Monday-Friday: the next year's schedule is announced late in the year before, so a deadline
that reaches into an unpublished year is an estimate until the package is upgraded.
"""

from __future__ import annotations

import datetime
import functools

import chinese_calendar

# The years the installed package has data for (2004-2026 in chinesecalendar 1.11.0); read from
# the data rather than hard-coded so that upgrading the package extends it.
HOLIDAY_DATA_YEARS: tuple[int, int] = (
    min(day.year for day in (*chinese_calendar.holidays, *chinese_calendar.workdays)),
    max(day.year for day in (*chinese_calendar.holidays, *chinese_calendar.workdays)),
)


def _as_date(day: datetime.date) -> datetime.date:
    # A datetime is a date subclass but does not compare with plain dates; use its calendar day.
    return day.date() if isinstance(day, datetime.datetime) else day


def is_working_day(day: datetime.date) -> bool:
    """True if `day` is a working day in mainland China (holidays and 调休 included)."""
    day = _as_date(day)
    first, last = HOLIDAY_DATA_YEARS
    if first <= day.year <= last:
        return bool(chinese_calendar.is_workday(day))
    # No published schedule for this year (the package raises NotImplementedError): Mon-Fri.
    return day.weekday() < 5


@functools.lru_cache(maxsize=8192)
def add_working_days(start: datetime.date, days: int) -> datetime.date:
    """The day on which `days` working days after `start` have elapsed.

    The start day itself does not count: accepted on a Friday with 1 working day, due on the
    next working day. `days=0` returns `start`.
    """
    # Memoised: pure, asked on every acceptance with the same few (day, limit) pairs, and each
    # answer walks the calendar day by day.
    if days < 0:
        raise ValueError("days must not be negative")
    current = _as_date(start)
    remaining = days
    while remaining > 0:
        current += datetime.timedelta(days=1)
        if is_working_day(current):
            remaining -= 1
    return current


def working_days_between(start: datetime.date, end: datetime.date) -> int:
    """The number of working days in (start, end]; 0 if `end` is not after `start`."""
    start, end = _as_date(start), _as_date(end)
    count = 0
    current = start
    while current < end:
        current += datetime.timedelta(days=1)
        if is_working_day(current):
            count += 1
    return count


def last_working_day_before(day: datetime.date) -> datetime.date:
    """The working day before `day` (a reminder's day for something due on `day`)."""
    current = _as_date(day) - datetime.timedelta(days=1)
    while not is_working_day(current):
        current -= datetime.timedelta(days=1)
    return current
