"""Real-name sign-in (实名认证): a one-time code by SMS to the phone registered with the ID
number, checked once; then a session.

The answer to "send me a code" is the same whether the ID number is registered or not (a
challenge is made either way, one nobody can answer when no resident matches), so the portal
tells no one who is registered. Every refusal of a code is recorded (committed, whatever the
request answers) and counted per ID number and per client over domain.LIMIT_WINDOW.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy import ColumnElement, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.portal import domain
from services.portal.db import ChallengeRow, FailureRow, SessionRow
from services.portal.residents import Residents
from shared import clock
from shared.db import Database
from shared.errors import ApiError, Unavailable
from shared.i18n import N_, _
from shared.identity import normalize_id_number

CODE_TEXT = N_(
    "[Tongban] Your sign-in code is {code}, valid for 5 minutes. Do not tell it to anyone."
)


class SmsSender(Protocol):
    """shared.sms.SmsGateway, or a fake in unit tests."""

    async def send(self, to: str, text: str, *, reference: str) -> str: ...


class SmsFailed(Exception):
    """The gateway could not take the message (shared.sms.SmsUnavailable, or any error)."""


@dataclass(frozen=True)
class SignIn:
    db: Database
    residents: Residents
    secret: bytes  # the portal's own secret (PORTAL_SECRET): code hashes, client digests
    sms: SmsSender


@dataclass(frozen=True)
class Signed:
    """A session made: the cookie's token (kept hashed), the applicant and the level."""

    token: str
    id_digest: str
    level: domain.Level


@dataclass(frozen=True)
class Refused:
    outcome: domain.Outcome | None  # None: a wrong name with the right code
    message: str


def client_digest(secret: bytes, address: str) -> str:
    return hmac.new(secret, b"client\x00" + address.encode(), hashlib.sha256).hexdigest()


def _too_many() -> ApiError:
    return ApiError(
        429,
        "too_many_attempts",
        _("Too many attempts; try again in {minutes} minutes.", minutes=15),
    )


async def _count(session: AsyncSession, *conditions: ColumnElement[bool]) -> int:
    return int((await session.execute(select(func.count()).where(*conditions))).scalar_one())


async def counts(
    session: AsyncSession, id_digest: str, client: str, now: datetime
) -> domain.Counts:
    since = now - domain.LIMIT_WINDOW
    sent, failed = ChallengeRow, FailureRow
    return domain.Counts(
        sends_by_id=await _count(session, sent.id_digest == id_digest, sent.created_at >= since),
        sends_by_client=await _count(session, sent.client == client, sent.created_at >= since),
        failures_by_id=await _count(session, failed.id_digest == id_digest, failed.at >= since),
        failures_by_client=await _count(session, failed.client == client, failed.at >= since),
    )


async def request_code(context: SignIn, id_number: str, client_address: str) -> str:
    """Send a code to the phone registered with `id_number`; the challenge's id (for the form)."""
    now = clock.now()
    id_digest = context.residents.digest(normalize_id_number(id_number))
    client = client_digest(context.secret, client_address)
    resident = context.residents.find(id_digest)
    challenge_id = str(uuid.uuid4())
    code = domain.new_code()
    async with context.db.transaction() as session:
        if not (await counts(session, id_digest, client, now)).may_send():
            raise _too_many()
        challenge = domain.Challenge.issue(context.secret, challenge_id, id_digest, code, now)
        if resident is None:  # a hash no code matches: the same answer, nothing sent
            challenge = domain.Challenge(
                challenge_id, id_digest, secrets.token_hex(32), challenge.expires_at
            )
        session.add(
            ChallengeRow(
                challenge_id=challenge_id,
                id_digest=id_digest,
                client=client,
                code_hash=challenge.code_hash,
                created_at=now,
                expires_at=challenge.expires_at,
                guesses=0,
            )
        )
    if resident is not None:
        try:
            # The challenge id is the gateway's idempotency key: a retry sends nothing twice.
            await context.sms.send(resident.phone, _(CODE_TEXT, code=code), reference=challenge_id)
        except SmsFailed as error:
            raise Unavailable(
                "sms_unavailable", _("The code could not be sent; try again in a moment.")
            ) from error
    return challenge_id


async def verify_code(
    context: SignIn, challenge_id: str, code: str, name: str, client_address: str
) -> Signed | Refused:
    """Check the code (and the name, for L3) once; a session, or why not. A refusal's record
    commits with the answer."""
    now = clock.now()
    client = client_digest(context.secret, client_address)
    async with context.db.transaction() as session:
        row = await session.get(ChallengeRow, challenge_id, with_for_update=True)
        id_digest = row.id_digest if row is not None else ""
        if not (await counts(session, id_digest, client, now)).may_try():
            raise _too_many()
        if row is None:
            session.add(FailureRow(id_digest="", client=client, at=now))
            return Refused(domain.Outcome.WRONG, _("The code is wrong."))
        challenge = domain.Challenge(
            row.challenge_id, row.id_digest, row.code_hash, row.expires_at, row.guesses, row.used_at
        )
        outcome, after = challenge.attempt(context.secret, code, now)
        row.guesses, row.used_at = after.guesses, after.used_at
        resident = context.residents.find(row.id_digest)
        level = domain.level_of(name, resident.name) if resident is not None else None
        if outcome is not domain.Outcome.ACCEPTED or level is None:
            session.add(FailureRow(id_digest=row.id_digest, client=client, at=now))
            if outcome is domain.Outcome.ACCEPTED:
                return Refused(
                    None, _("The name does not match the ID number; ask for a new code.")
                )
            return Refused(outcome, _(REFUSALS[outcome]))
        return _new_session(session, row.id_digest, level, now)


def _new_session(
    session: AsyncSession, id_digest: str, level: domain.Level, now: datetime
) -> Signed:
    token = secrets.token_urlsafe(32)
    session.add(
        SessionRow(
            token_hash=token_hash(token),
            id_digest=id_digest,
            level=int(level),
            created_at=now,
            expires_at=now + domain.SESSION_LIFETIME,
        )
    )
    return Signed(token, id_digest, level)


async def open_session(db: Database, id_digest: str, level: domain.Level) -> Signed:
    """A session for an applicant another party vouched for (the province's identity
    provider, services/portal/oidc.py): the same session as after a code."""
    async with db.transaction() as session:
        return _new_session(session, id_digest, level, clock.now())


REFUSALS = {
    domain.Outcome.WRONG: N_("The code is wrong."),
    domain.Outcome.EXPIRED: N_("The code has expired; ask for a new one."),
    domain.Outcome.USED: N_("The code was used already; ask for a new one."),
    domain.Outcome.EXHAUSTED: N_("Too many wrong codes; ask for a new one."),
}


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Applicant:
    """Who a session is: the ID number's digest and the level reached."""

    id_digest: str
    level: domain.Level


async def session_of(db: Database, token: str) -> Applicant | None:
    async with db.transaction() as session:
        row = await session.get(SessionRow, token_hash(token))
        if row is None or row.expires_at <= clock.now():
            return None
        return Applicant(row.id_digest, domain.Level(row.level))


async def sign_out(db: Database, token: str) -> None:
    async with db.transaction() as session:
        await session.execute(delete(SessionRow).where(SessionRow.token_hash == token_hash(token)))
