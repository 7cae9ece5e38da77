"""Bearer tokens (API.md): asymmetric JWTs checked against the issuer's JWKS.

Claims: `sub`, `role`, `locality`, `window_id` (window clerks), `iat`, `exp`, and `iss`/`aud`
as this service's settings name them. Any OIDC provider (Keycloak, a province IdP) works:
JWT_JWKS_URL points at its JWKS. In development, `tongban token` signs with the key ring's
`token-issuer` key (Ed25519) and services trust that key; outside development it is never
trusted, and a service without a JWKS refuses to start (Settings.fail_closed).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import OrderedDict
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import httpx
import jwt
from pydantic import BaseModel, Field, ValidationError

from shared.errors import ApiError
from shared.i18n import _
from shared.settings import Settings

# `portal`: the applicants' portal's own service credential (services/portal); it acts for a
# signed-in applicant, named by the ID number's keyed digest, on the routes made for it.
Role = Literal[
    "window_clerk", "approver", "approval_system", "operator", "admin", "carrier", "portal"
]
ROLES: tuple[Role, ...] = (
    "window_clerk",
    "approver",
    "approval_system",
    "operator",
    "admin",
    "carrier",
    "portal",
)
# Asymmetric only: a shared-secret algorithm (HS256) would let anyone holding the verifying key
# mint tokens, and "none" is never accepted.
ALGORITHMS = ["EdDSA", "ES256"]
DEVELOPMENT_ISSUER_KEY = "token-issuer"

log = logging.getLogger(__name__)


class Principal(BaseModel):
    sub: str = Field(min_length=1, max_length=64)
    role: Role
    # A 6-digit code (GB/T 2260): a token claiming "%" or "34*" is invalid, not a wildcard.
    locality: str = Field(pattern=r"^\d{6}$")
    window_id: str | None = Field(default=None, max_length=32)


def mint_token(
    settings: Settings,
    *,
    role: Role,
    locality: str,
    window_id: str | None = None,
    sub: str | None = None,
    ttl: timedelta = timedelta(hours=12),
) -> str:
    """A token signed with the development issuer key (development mode only)."""
    if not settings.development:
        raise RuntimeError(
            "Tokens are minted locally only in development mode (TONGBAN_ENV=development); "
            "elsewhere they come from the identity provider."
        )
    if role == "window_clerk" and not window_id:
        raise ValueError("a window clerk's token needs a window id")
    now = datetime.now(UTC)
    claims: dict[str, object] = {
        "sub": sub or f"{role}-{uuid.uuid4().hex[:8]}",
        "role": role,
        "locality": locality,
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "iat": now,
        "exp": now + ttl,
    }
    if window_id:
        claims["window_id"] = window_id
    signer = settings.key_ring().signer(DEVELOPMENT_ISSUER_KEY, "Ed25519")
    return jwt.encode(claims, signer.ed25519, algorithm="EdDSA", headers={"kid": signer.kid})


class _VerifiedTokens:
    """Tokens whose signature was checked, with their principal and expiry.

    A window terminal sends the same token with every request of a shift; checking its
    signature each time was a noticeable share of an accept. Only the very token string that
    was verified (for the same issuer and audience) is found here, and its expiry is still
    checked on every use.
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


class IssuerKeys:
    """The identity provider's signing keys (its JWKS), fetched without blocking the event loop.

    A request waits on the provider only when the token names a key not held, and then at most
    `timeout` seconds. Keys held go on verifying while a fresh JWKS is fetched in the
    background (every `refresh` seconds), and while the provider is slow or down: a fetch that
    fails keeps what was held. A key id the JWKS does not name is looked up again at most once
    every `retry_unknown` seconds, so tokens with made-up key ids fail at once instead of each
    waiting on (and hammering) the provider.
    """

    def __init__(
        self, url: str, *, timeout: float, refresh: float, retry_unknown: float = 10.0
    ) -> None:
        self.url = url
        self.timeout = timeout
        self.refresh = refresh
        self.retry_unknown = retry_unknown
        self.keys: dict[str, Any] = {}
        self.fetched_at: float | None = None  # time.monotonic() of the last JWKS taken
        self.attempted_at: float | None = None  # ... of the last fetch started
        self._fetching: asyncio.Task[None] | None = None

    async def key(self, kid: str) -> Any | None:
        """The public key `kid` names, or None when the provider does not (or cannot) say."""
        now = time.monotonic()
        if kid in self.keys:
            if self._stale(now) and not self._attempted_within(now, self.retry_unknown):
                self._fetch()  # in the background: what is held verifies meanwhile
            return self.keys[kid]
        if self._fetching is None or self._fetching.done():
            if self._attempted_within(now, self.retry_unknown):
                return None  # looked up moments ago: fail at once
            self._fetch()
        assert self._fetching is not None
        # shield: a request given up on (its client gone) does not cancel the shared fetch.
        await asyncio.shield(self._fetching)
        return self.keys.get(kid)

    def _stale(self, now: float) -> bool:
        return self.fetched_at is None or now - self.fetched_at >= self.refresh

    def _attempted_within(self, now: float, seconds: float) -> bool:
        return self.attempted_at is not None and now - self.attempted_at < seconds

    def _fetch(self) -> asyncio.Task[None]:
        """The fetch under way, or a new one: one at a time, however many requests ask."""
        if self._fetching is None or self._fetching.done():
            self.attempted_at = time.monotonic()
            self._fetching = asyncio.get_running_loop().create_task(
                self._download(), name=f"jwks:{self.url}"
            )
        return self._fetching

    async def _download(self) -> None:
        try:
            async with asyncio.timeout(self.timeout), httpx.AsyncClient() as client:
                response = await client.get(self.url, timeout=self.timeout)
                response.raise_for_status()
                jwks = jwt.PyJWKSet.from_dict(response.json())
        except Exception as exc:  # whatever went wrong, the keys held stay
            log.warning(
                "JWKS %s: %s; %d key(s) held go on verifying",
                self.url,
                type(exc).__name__,
                len(self.keys),
            )
            return
        self.keys = {jwk.key_id: jwk.key for jwk in jwks.keys if jwk.key_id}
        self.fetched_at = time.monotonic()


_issuers: dict[str, IssuerKeys] = {}


def issuer_keys(settings: Settings) -> IssuerKeys:
    """The process's one holder of JWT_JWKS_URL's keys."""
    assert settings.jwt_jwks_url
    keys = _issuers.get(settings.jwt_jwks_url)
    if keys is None:
        keys = _issuers[settings.jwt_jwks_url] = IssuerKeys(
            settings.jwt_jwks_url,
            timeout=settings.jwt_jwks_timeout_seconds,
            refresh=settings.jwt_jwks_refresh_seconds,
        )
    return keys


async def _verifying_key(settings: Settings, token: str) -> Any:
    """The issuer's public key the token names (`kid`), from the JWKS or, in development,
    from the key ring's development issuer."""
    kid = jwt.get_unverified_header(token).get("kid")
    if not isinstance(kid, str):
        raise jwt.InvalidKeyError("the token names no key (kid)")
    if settings.jwt_jwks_url:
        key = await issuer_keys(settings).key(kid)
        if key is not None:
            return key
    if settings.development:
        ring_key = settings.key_ring().public_key(kid)
        if ring_key is not None and ring_key.name == DEVELOPMENT_ISSUER_KEY:
            return ring_key.ed25519_public
    raise jwt.InvalidKeyError("the token's key is not one of the issuer's")


async def decode_token(settings: Settings, token: str) -> Principal:
    cache_key = (token, settings.jwt_issuer, settings.jwt_audience)
    known = _verified.get(cache_key)
    if known is not None:
        return known
    try:
        claims = jwt.decode(
            token,
            await _verifying_key(settings, token),
            algorithms=ALGORITHMS,
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            options={"require": ["sub", "role", "locality", "exp", "iat"]},
        )
        lifetime = float(claims["exp"]) - float(claims["iat"])
        if lifetime > settings.jwt_max_lifetime_minutes * 60:
            raise jwt.InvalidTokenError("the token lives longer than this service allows")
        principal = Principal.model_validate(claims)
    except (jwt.PyJWTError, ValidationError, ValueError, TypeError) as exc:
        raise ApiError(
            401, "invalid_token", _("The bearer token is missing, invalid or expired.")
        ) from exc
    _verified.put(cache_key, principal, float(claims["exp"]))
    return principal
