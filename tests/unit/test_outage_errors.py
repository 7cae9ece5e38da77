"""Which failures of a consumer's handling are an outage (waited out, never dead-lettered) and
which count towards the dead letter (shared.messaging.handling.is_outage)."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import DBAPIError, IntegrityError

from shared.messaging.handling import is_outage


class DriverError(Exception):
    """What SQLAlchemy's asyncpg adapter raises: the asyncpg error's SQLSTATE copied on it."""

    def __init__(self, message: str, sqlstate: str | None) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate


def wrapped(message: str, sqlstate: str | None) -> DBAPIError:
    return DBAPIError("SELECT 1", {}, DriverError(message, sqlstate))


@pytest.mark.parametrize(
    ("message", "sqlstate"),
    [
        ("the database system is not yet accepting connections", "57P03"),
        ("terminating connection due to administrator command", "57P01"),
        ("the database system is in recovery mode", "57P02"),
        ("connection does not exist", "08003"),
        ("sorry, too many clients already", "53300"),
    ],
)
def test_a_server_away_or_starting_up_is_an_outage(message: str, sqlstate: str) -> None:
    # PostgreSQL restarted in immediate mode answers 57P03 while it recovers (make chaos): an
    # event handled then must wait, not go to the dead letters after four quick attempts.
    assert is_outage(wrapped(message, sqlstate))


def test_the_sqlstate_is_also_found_on_the_asyncpg_error_underneath() -> None:
    inner = DriverError("the database system is starting up", "57P03")
    outer = Exception("wrapped by the adapter")
    outer.__cause__ = inner
    assert is_outage(DBAPIError("SELECT 1", {}, outer))


def test_a_failure_of_the_event_itself_is_no_outage() -> None:
    assert not is_outage(IntegrityError("INSERT", {}, DriverError("duplicate key", "23505")))
    assert not is_outage(wrapped("value too long for type character varying(32)", "22001"))
    assert not is_outage(wrapped("no state given", None))
    assert not is_outage(ValueError("not a lowercase hex SHA-256"))


def test_a_refused_connection_is_an_outage() -> None:
    assert is_outage(ConnectionRefusedError(111, "Connection refused"))
