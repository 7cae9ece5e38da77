"""The portal's rules, without I/O: one-time codes (动态验证码) and assurance levels.

A code is 6 digits, lives 5 minutes, is kept only as an HMAC (keyed with the portal's secret and
bound to its challenge and to the ID number's digest, so a leaked table reveals no code and a
hash cannot be moved to another challenge), is compared in constant time and is used once.
A challenge takes a few guesses; beyond them, and beyond the failures allowed per ID number and
per client within a window of time, sign-in is refused until the window has passed.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import Enum, IntEnum

CODE_DIGITS = 6
CODE_LIFETIME = timedelta(minutes=5)
# Wrong codes one challenge takes before it is spent: 5 guesses of 10^6 codes.
MAX_GUESSES_PER_CODE = 5
# Over this window: codes sent and codes failed, per ID number and per client address.
LIMIT_WINDOW = timedelta(minutes=15)
MAX_SENDS_PER_ID = 5
MAX_SENDS_PER_CLIENT = 20
MAX_FAILURES_PER_ID = 10
MAX_FAILURES_PER_CLIENT = 30
SESSION_LIFETIME = timedelta(minutes=30)


class Level(IntEnum):
    """Assurance levels (认证等级): what a signed-in applicant may do."""

    L0 = 0  # nobody signed in: guides only
    L2 = 2  # a code sent to the registered phone: follow and supplement own applications
    L3 = 3  # ID number, name and the code: submit applications


# What each act needs; every guide states the level its submission needs.
READ_GUIDES = Level.L0
FOLLOW_OWN = Level.L2
SUBMIT = Level.L3


class Outcome(Enum):
    ACCEPTED = "accepted"
    WRONG = "wrong"
    EXPIRED = "expired"
    USED = "used"  # replay of a code already taken
    EXHAUSTED = "exhausted"  # too many wrong guesses on this challenge


def new_code() -> str:
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


def code_hash(secret: bytes, challenge_id: str, id_digest: str, code: str) -> str:
    message = f"{challenge_id}\x00{id_digest}\x00{code}".encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Challenge:
    """One code sent: its hash, life and guesses; nothing of the code itself."""

    challenge_id: str
    id_digest: str
    code_hash: str
    expires_at: datetime
    guesses: int = 0
    used_at: datetime | None = None

    @classmethod
    def issue(
        cls, secret: bytes, challenge_id: str, id_digest: str, code: str, now: datetime
    ) -> Challenge:
        return cls(
            challenge_id,
            id_digest,
            code_hash(secret, challenge_id, id_digest, code),
            expires_at=now + CODE_LIFETIME,
        )

    def attempt(self, secret: bytes, code: str, now: datetime) -> tuple[Outcome, Challenge]:
        """The outcome of `code`, and the challenge as it stands after it (store it back)."""
        if self.used_at is not None:
            return Outcome.USED, self
        if now >= self.expires_at:
            return Outcome.EXPIRED, self
        if self.guesses >= MAX_GUESSES_PER_CODE:
            return Outcome.EXHAUSTED, self
        given = code_hash(secret, self.challenge_id, self.id_digest, code.strip())
        # As bytes: a text that is not ASCII is a mismatch, not an error.
        if hmac.compare_digest(given.encode(), self.code_hash.encode()):
            return Outcome.ACCEPTED, replace(self, used_at=now)
        return Outcome.WRONG, replace(self, guesses=self.guesses + 1)


@dataclass(frozen=True)
class Counts:
    """Codes sent and failures within LIMIT_WINDOW, per ID number and per client."""

    sends_by_id: int = 0
    sends_by_client: int = 0
    failures_by_id: int = 0
    failures_by_client: int = 0

    def may_send(self) -> bool:
        return (
            self.sends_by_id < MAX_SENDS_PER_ID
            and self.sends_by_client < MAX_SENDS_PER_CLIENT
            and self.may_try()
        )

    def may_try(self) -> bool:
        return (
            self.failures_by_id < MAX_FAILURES_PER_ID
            and self.failures_by_client < MAX_FAILURES_PER_CLIENT
        )


def level_of(name_given: str, registered_name: str) -> Level | None:
    """L3 when the name matches the registered one, L2 when none was given, None (a failure)
    when a wrong name was given."""
    given = "".join(name_given.split())
    if not given:
        return Level.L2
    if hmac.compare_digest(given.encode(), "".join(registered_name.split()).encode()):
        return Level.L3
    return None
