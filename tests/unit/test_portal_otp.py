"""The portal's one-time code rules (services.portal.domain): a code is right once, within its
five minutes, for a few guesses; sign-in stops after too many failures per ID and per client."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.portal import domain
from services.portal.domain import Challenge, Counts, Level, Outcome

SECRET = b"portal-test-secret"
NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)


def issued(code: str = "123456") -> Challenge:
    return Challenge.issue(SECRET, "challenge-1", "digest-of-the-id", code, NOW)


def test_the_right_code_signs_in_once_and_its_replay_is_refused() -> None:
    outcome, after = issued().attempt(SECRET, "123456", NOW + timedelta(minutes=1))
    assert outcome is Outcome.ACCEPTED
    replayed, _ = after.attempt(SECRET, "123456", NOW + timedelta(minutes=2))
    assert replayed is Outcome.USED


def test_a_wrong_code_is_refused_and_counted() -> None:
    outcome, after = issued().attempt(SECRET, "654321", NOW)
    assert outcome is Outcome.WRONG
    assert after.guesses == 1
    # ... and the right one still works afterwards, within the guesses allowed.
    assert after.attempt(SECRET, "123456", NOW)[0] is Outcome.ACCEPTED


def test_the_code_expires_after_five_minutes() -> None:
    challenge = issued()
    assert challenge.attempt(SECRET, "123456", NOW + timedelta(minutes=4, seconds=59))[0] is (
        Outcome.ACCEPTED
    )
    late, after = challenge.attempt(SECRET, "123456", NOW + timedelta(minutes=5))
    assert late is Outcome.EXPIRED
    assert after.used_at is None


def test_too_many_wrong_codes_spend_the_challenge_even_for_the_right_code() -> None:
    challenge = issued()
    for _ in range(domain.MAX_GUESSES_PER_CODE):
        outcome, challenge = challenge.attempt(SECRET, "000000", NOW)
        assert outcome is Outcome.WRONG
    assert challenge.attempt(SECRET, "123456", NOW)[0] is Outcome.EXHAUSTED


def test_only_a_keyed_hash_of_the_code_is_kept_bound_to_its_challenge_and_id() -> None:
    challenge = issued("123456")
    assert "123456" not in challenge.code_hash
    elsewhere = Challenge.issue(SECRET, "challenge-2", "digest-of-the-id", "123456", NOW)
    other_id = Challenge.issue(SECRET, "challenge-1", "another-digest", "123456", NOW)
    other_key = Challenge.issue(b"another-secret", "challenge-1", "digest-of-the-id", "123456", NOW)
    assert (
        len({challenge.code_hash, elsewhere.code_hash, other_id.code_hash, other_key.code_hash})
        == 4
    )


def test_codes_are_six_digits() -> None:
    codes = {domain.new_code() for _ in range(200)}
    assert all(len(code) == 6 and code.isdigit() for code in codes)
    assert len(codes) > 150  # random, not a counter or a constant


def test_a_non_ascii_code_is_a_wrong_code_not_an_error() -> None:
    assert issued().attempt(SECRET, "１２３４５６", NOW)[0] is Outcome.WRONG


@pytest.mark.parametrize(
    ("counts", "may_send", "may_try"),
    [
        (Counts(), True, True),
        (Counts(sends_by_id=domain.MAX_SENDS_PER_ID), False, True),
        (Counts(sends_by_client=domain.MAX_SENDS_PER_CLIENT), False, True),
        (Counts(failures_by_id=domain.MAX_FAILURES_PER_ID), False, False),
        (Counts(failures_by_client=domain.MAX_FAILURES_PER_CLIENT), False, False),
        (Counts(failures_by_id=domain.MAX_FAILURES_PER_ID - 1), True, True),
    ],
)
def test_attempts_are_limited_per_id_and_per_client(
    counts: Counts, may_send: bool, may_try: bool
) -> None:
    assert counts.may_send() is may_send
    assert counts.may_try() is may_try


def test_the_name_decides_the_level() -> None:
    assert domain.level_of("", "张晓明") is Level.L2
    assert domain.level_of("张晓明", "张晓明") is Level.L3
    assert domain.level_of(" 张 晓明 ", "张晓明") is Level.L3
    assert domain.level_of("张晓", "张晓明") is None
