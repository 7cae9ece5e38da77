"""JWT bearer auth (API.md): claims `sub`, `role`, `locality`, `window_id`, `exp`.

Local tokens are signed with the shared HS256 secret (`tongban token`); a province deployment
would swap in its identity provider's keys here and nowhere else.
"""

from __future__ import annotations

import time
import uuid
from collections import OrderedDict
from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

import jwt
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ValidationError

from shared.errors import ApiError
from shared.settings import Settings

Role = Literal["window_clerk", "approver", "operator", "admin", "carrier"]
ROLES: tuple[Role, ...] = ("window_clerk", "approver", "operator", "admin", "carrier")


class Principal(BaseModel):
    sub: str
    role: Role
    locality: str
    window_id: str | None = None


def mint_token(
    settings: Settings,
    *,
    role: Role,
    locality: str,
    window_id: str | None = None,
    sub: str | None = None,
    ttl: timedelta = timedelta(hours=12),
) -> str:
    if role == "window_clerk" and not window_id:
        raise ValueError("a window clerk's token needs a window id")
    now = datetime.now(UTC)
    claims: dict[str, object] = {
        "sub": sub or f"{role}-{uuid.uuid4().hex[:8]}",
        "role": role,
        "locality": locality,
        "iss": settings.jwt_issuer,
        "iat": now,
        "exp": now + ttl,
    }
    if window_id:
        claims["window_id"] = window_id
    return jwt.encode(claims, settings.jwt_secret.get_secret_value(), algorithm="HS256")


class _VerifiedTokens:
    """Tokens whose signature was checked, with their principal and expiry.

    A window terminal sends the same token with every request of a shift; checking its
    signature each time was a noticeable share of an accept. Only the very token string that
    was verified (under the same key and issuer) is found here, and its expiry is still checked
    on every use.
    """

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self._entries: OrderedDict[tuple[str, str, str], tuple[Principal, float]] = OrderedDict()

    def get(self, key: tuple[str, str, str]) -> Principal | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        principal, expires = entry
        if expires <= time.time():
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return principal

    def put(self, key: tuple[str, str, str], principal: Principal, expires: float) -> None:
        self._entries[key] = (principal, expires)
        self._entries.move_to_end(key)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)


_verified = _VerifiedTokens()


def decode_token(settings: Settings, token: str) -> Principal:
    secret = settings.jwt_secret.get_secret_value()
    key = (token, secret, settings.jwt_issuer)
    known = _verified.get(key)
    if known is not None:
        return known
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=["HS256"],
            issuer=settings.jwt_issuer,
            options={"require": ["sub", "role", "locality", "exp"]},
        )
        principal = Principal.model_validate(claims)
    except (jwt.PyJWTError, ValidationError) as exc:
        raise ApiError(
            401, "invalid_token", "The bearer token is missing, invalid or expired."
        ) from exc
    _verified.put(key, principal, float(claims["exp"]))
    return principal


_bearer = HTTPBearer(auto_error=False)

# The dependencies below are `async def` although they never await: FastAPI runs a plain `def`
# dependency in a worker thread, a thread hand-off on every request for microseconds of work.


async def current_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None:
        raise ApiError(401, "unauthorized", "A bearer token is required.")
    settings: Settings = request.app.state.settings
    return decode_token(settings, credentials.credentials)


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def require_role(*roles: Role) -> object:
    """A dependency that lets only `roles` through (403 otherwise)."""

    async def check(principal: CurrentPrincipal) -> Principal:
        if principal.role not in roles:
            raise ApiError(
                403,
                "forbidden_role",
                f"This needs the role {' or '.join(roles)}.",
                {"role": principal.role},
            )
        return principal

    return Depends(check)


# The callers the services' endpoints take, as FastAPI parameter types.
WindowClerk = Annotated[Principal, require_role("window_clerk")]
Approver = Annotated[Principal, require_role("approver")]
Admin = Annotated[Principal, require_role("admin")]
Operator = Annotated[Principal, require_role("operator", "admin")]
