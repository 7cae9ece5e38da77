"""One clock for every service, in China time.

Working days, agreement validity and "today" on a receipt are counted on the calendar of the
service halls (Asia/Shanghai), never on the server's UTC date: just after midnight in Beijing
the UTC date is still yesterday. Code asks `clock.now()` / `clock.today()`; tests swap the
clock with `use_clock(FixedClock(...))` to drive deadlines and validity without waiting.

People read times in China time too: databases keep moments in UTC (timestamptz), and every
API answer gives them in ISO 8601 with the +08:00 offset (`ChinaTime` in a response model,
`china_time()` where an answer is built by hand), whatever zone the moment was read in.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from typing import Annotated, TypeVar
from zoneinfo import ZoneInfo

from pydantic import AwareDatetime, PlainSerializer

CHINA_TZ = ZoneInfo("Asia/Shanghai")


class Clock:
    """The system clock, read in China time."""

    def now(self) -> datetime:
        return datetime.now(CHINA_TZ)

    def today(self) -> date:
        return self.now().date()


class FixedClock(Clock):
    """A clock that stands still until moved: for tests of deadlines and validity."""

    def __init__(self, at: datetime) -> None:
        if at.tzinfo is None:
            raise ValueError("a FixedClock needs an aware datetime")
        self._at = at.astimezone(CHINA_TZ)

    def now(self) -> datetime:
        return self._at

    def advance(self, delta: timedelta) -> None:
        self._at += delta


def in_china(moment: datetime) -> datetime:
    """The same moment on the clocks of the service halls (+08:00)."""
    if moment.tzinfo is None:
        raise ValueError("a moment without a zone cannot be told in China time")
    return moment.astimezone(CHINA_TZ)


def china_time(moment: datetime) -> str:
    """ISO 8601 with the +08:00 offset: the one form of a moment in an API answer."""
    return in_china(moment).isoformat()


# A moment in a response model: read from any zone (a database gives UTC), answered in ISO 8601
# with +08:00 (the same text as china_time); the OpenAPI schema stays `date-time`.
ChinaTime = Annotated[
    AwareDatetime, PlainSerializer(in_china, return_type=datetime, when_used="json")
]


_current: Clock = Clock()


def now() -> datetime:
    """The current time in China (aware)."""
    return _current.now()


def today() -> date:
    """Today's date in China."""
    return _current.today()


AnyClock = TypeVar("AnyClock", bound=Clock)


@contextmanager
def use_clock(clock: AnyClock) -> Iterator[AnyClock]:
    """Run with `clock` as every service's clock (tests), then put the previous one back."""
    global _current
    previous, _current = _current, clock
    try:
        yield clock
    finally:
        _current = previous
