"""Sign-in through a province's own identity provider (统一身份认证, OpenID Connect) in place of
the built-in SMS code: the authorization code flow with PKCE (S256), `state` and `nonce`.

1. `begin`: fresh state, nonce and PKCE verifier, kept (with the page to return to) in a
   short-lived cookie signed with the portal's secret; the browser goes to the provider.
2. The provider sends the browser back with `code` and `state`: the state must be the cookie's
   (a login started by someone else's browser is refused), the code is exchanged at the token
   endpoint with the verifier (and the client's secret, when it has one), and the ID token is
   verified here, not trusted: its signature against the provider's JWKS (asymmetric
   algorithms only), `iss`, `aud` (and `azp`), `exp`, `iat` and the `nonce` of this login.
3. `identify`: the ID number from the claim PORTAL_OIDC_ID_CLAIM becomes its keyed digest at
   once (PII_DIGEST_KEY, as the built-in sign-in does); the level from PORTAL_OIDC_LEVEL_CLAIM
   through PORTAL_OIDC_LEVELS, anything unmapped refused. Then the same session as after a code.

The cookie needs no table: it is signed (an altered one is no login), expires in 10 minutes,
and is deleted at the callback; the provider takes each code once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import secrets
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import quote_plus, urlencode

import httpx
import jwt

from services.portal.domain import Level
from shared.auth import IssuerKeys
from shared.errors import Unavailable
from shared.i18n import N_, _
from shared.identity import id_number_digest, normalize_id_number
from shared.settings import Settings

COOKIE = "tongban_portal_oidc"
COOKIE_PATH = "/signin/oidc"
PENDING_SECONDS = 600
# Asymmetric only, as for service tokens (shared.auth): "none" and HS256 never verify.
ALGORITHMS = ["RS256", "PS256", "ES256", "EdDSA"]
# Two parties' clocks: an ID token issued a moment "in the future" is still taken.
LEEWAY_SECONDS = 60
METADATA_SECONDS = 3600

log = logging.getLogger(__name__)
NOT_SIGNED_IN = N_("The identity provider did not sign you in; please try again.")
LEVEL_REFUSED = N_("The identity provider's assurance level is not accepted by the portal.")


class OidcRefused(Exception):
    """A sign-in not taken. `reason` is for the log (it never carries a claim's value);
    `message` is what the applicant reads."""

    def __init__(self, reason: str, message: str = NOT_SIGNED_IN) -> None:
        super().__init__(reason)
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class Config:
    issuer: str
    client_id: str
    client_secret: str | None
    id_claim: str
    level_claim: str
    levels: Mapping[str, Level]
    scope: str
    redirect_url: str | None
    timeout: float

    @classmethod
    def from_settings(cls, settings: Settings) -> Config | None:
        """None when no provider is set (the built-in sign-in by SMS code)."""
        if not settings.portal_oidc_issuer:
            return None
        if not settings.portal_oidc_client_id:
            raise RuntimeError("PORTAL_OIDC_ISSUER is set without PORTAL_OIDC_CLIENT_ID")
        secret = settings.portal_oidc_client_secret
        scope = settings.portal_oidc_scope.split()
        return cls(
            issuer=settings.portal_oidc_issuer,
            client_id=settings.portal_oidc_client_id,
            client_secret=secret.get_secret_value() if secret else None,
            id_claim=settings.portal_oidc_id_claim,
            level_claim=settings.portal_oidc_level_claim,
            levels={value: Level(level) for value, level in settings.portal_oidc_levels.items()},
            scope=" ".join(scope if "openid" in scope else ["openid", *scope]),
            redirect_url=settings.portal_oidc_redirect_url,
            timeout=settings.portal_oidc_timeout_seconds,
        )


def _random() -> str:
    return secrets.token_urlsafe(32)


@dataclass(frozen=True)
class Pending:
    """A login under way, between the portal and the provider's answer."""

    next: str
    state: str = field(default_factory=_random)
    nonce: str = field(default_factory=_random)
    verifier: str = field(default_factory=_random)  # PKCE: 43 characters, 256 bits
    expires: int = field(default_factory=lambda: int(time.time()) + PENDING_SECONDS)


def code_challenge(verifier: str) -> str:
    """PKCE S256 (RFC 7636): BASE64URL(SHA256(verifier)), without padding."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _mac(secret: bytes, body: str) -> str:
    return hmac.new(secret, b"oidc\x00" + body.encode(), hashlib.sha256).hexdigest()


def seal(secret: bytes, pending: Pending) -> str:
    body = base64.urlsafe_b64encode(json.dumps(asdict(pending)).encode()).decode("ascii")
    body = body.rstrip("=")  # "=" would have the cookie quoted
    return f"{body}.{_mac(secret, body)}"


def unseal(secret: bytes, value: str) -> Pending | None:
    """The login the cookie holds; None when altered, foreign or expired."""
    body, _dot, mac = value.rpartition(".")
    if not body or not hmac.compare_digest(_mac(secret, body).encode(), mac.encode()):
        return None
    try:
        pending = Pending(**json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))))
    except (ValueError, TypeError):
        return None
    return pending if pending.expires > time.time() else None


def check_id_token(
    id_token: str, key: Any, *, issuer: str, client_id: str, nonce: str
) -> dict[str, Any]:
    """The ID token's claims once its signature, issuer, audience, lifetime and nonce hold
    (OpenID Connect Core 3.1.3.7); OidcRefused otherwise."""
    try:
        claims: dict[str, Any] = jwt.decode(
            id_token,
            key,
            algorithms=ALGORITHMS,
            audience=client_id,
            issuer=issuer,
            leeway=LEEWAY_SECONDS,
            options={"require": ["iss", "sub", "aud", "exp", "iat"]},
        )
    except jwt.PyJWTError as error:
        raise OidcRefused(f"id_token: {type(error).__name__}") from error
    audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    if len(audiences) > 1 and claims.get("azp") != client_id:
        raise OidcRefused("id_token: azp is not this client")
    given = claims.get("nonce")
    if not isinstance(given, str) or not hmac.compare_digest(given.encode(), nonce.encode()):
        raise OidcRefused("id_token: nonce is not this login's")
    return claims


def identify(claims: Mapping[str, Any], config: Config, digest_key: bytes) -> tuple[str, Level]:
    """The applicant (the ID number's keyed digest) and the level the verified claims vouch
    for. The ID number itself goes no further than this function."""
    number = claims.get(config.id_claim)
    if not isinstance(number, str) or not 0 < len(normalize_id_number(number)) <= 32:
        raise OidcRefused(f"claim {config.id_claim} missing or not an ID number")
    value = claims.get(config.level_claim)
    level = config.levels.get(value) if isinstance(value, str) else None
    if level is None:
        raise OidcRefused(f"claim {config.level_claim} missing or not mapped", LEVEL_REFUSED)
    return id_number_digest(number, digest_key), level


class Provider:
    """The identity provider as its discovery document describes it: the metadata is fetched
    at the first sign-in and again hourly; its signing keys through shared.auth.IssuerKeys
    (fetched without blocking, kept while the provider is down, looked up again for a new kid).
    """

    def __init__(self, config: Config, http: httpx.AsyncClient | None = None) -> None:
        self.config = config
        self.http = http or httpx.AsyncClient(timeout=config.timeout)
        self._metadata: dict[str, Any] | None = None
        self._fetched = 0.0
        self._keys: IssuerKeys | None = None

    async def aclose(self) -> None:
        await self.http.aclose()

    async def metadata(self) -> dict[str, Any]:
        if self._metadata is None or time.monotonic() - self._fetched > METADATA_SECONDS:
            url = self.config.issuer.rstrip("/") + "/.well-known/openid-configuration"
            try:
                response = await self.http.get(url)
                response.raise_for_status()
                metadata = response.json()
            except (httpx.HTTPError, ValueError) as error:
                log.warning("OIDC discovery %s: %s", url, type(error).__name__)
                raise _unavailable() from error
            # Discovery 4.3: the document must name the very issuer asked, or it is another's.
            if not isinstance(metadata, dict) or metadata.get("issuer") != self.config.issuer:
                log.warning("OIDC discovery %s names another issuer than PORTAL_OIDC_ISSUER", url)
                raise _unavailable()
            self._metadata, self._fetched = metadata, time.monotonic()
            if self._keys is None or self._keys.url != metadata["jwks_uri"]:
                self._keys = IssuerKeys(
                    metadata["jwks_uri"], timeout=self.config.timeout, refresh=METADATA_SECONDS
                )
        return self._metadata

    async def authorization_url(self, pending: Pending, redirect_uri: str) -> str:
        endpoint = (await self.metadata())["authorization_endpoint"]
        query = {
            "response_type": "code",
            "client_id": self.config.client_id,
            "redirect_uri": redirect_uri,
            "scope": self.config.scope,
            "state": pending.state,
            "nonce": pending.nonce,
            "code_challenge": code_challenge(pending.verifier),
            "code_challenge_method": "S256",
        }
        return f"{endpoint}{'&' if '?' in endpoint else '?'}{urlencode(query)}"

    async def sign_in(
        self, code: str, pending: Pending, redirect_uri: str, digest_key: bytes
    ) -> tuple[str, Level]:
        """Exchange the code, verify the ID token, and say who signed in at what level."""
        id_token = await self._exchange(code, pending.verifier, redirect_uri)
        claims = check_id_token(
            id_token,
            await self._key(id_token),
            issuer=self.config.issuer,
            client_id=self.config.client_id,
            nonce=pending.nonce,
        )
        return identify(claims, self.config, digest_key)

    async def _exchange(self, code: str, verifier: str, redirect_uri: str) -> str:
        metadata = await self.metadata()
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
        }
        headers = {}
        methods = metadata.get("token_endpoint_auth_methods_supported", ["client_secret_basic"])
        if self.config.client_secret is None:
            form["client_id"] = self.config.client_id  # a public client: PKCE alone
        elif "client_secret_basic" in methods:
            # RFC 6749 2.3.1: each part form-encoded before Basic's base64.
            pair = f"{quote_plus(self.config.client_id)}:{quote_plus(self.config.client_secret)}"
            headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
        else:
            form |= {"client_id": self.config.client_id, "client_secret": self.config.client_secret}
        try:
            response = await self.http.post(metadata["token_endpoint"], data=form, headers=headers)
        except httpx.HTTPError as error:
            log.warning("OIDC token endpoint: %s", type(error).__name__)
            raise _unavailable() from error
        if response.status_code != 200:
            raise OidcRefused(f"token endpoint answered {response.status_code}")
        try:
            id_token = response.json()["id_token"]
        except (ValueError, KeyError, TypeError) as error:
            raise OidcRefused("token endpoint answered no id_token") from error
        if not isinstance(id_token, str):
            raise OidcRefused("token endpoint answered no id_token")
        return id_token

    async def _key(self, id_token: str) -> Any:
        try:
            kid = jwt.get_unverified_header(id_token).get("kid")
        except jwt.PyJWTError as error:
            raise OidcRefused("id_token: not a JWT") from error
        await self.metadata()
        assert self._keys is not None
        key = await self._keys.key(kid) if isinstance(kid, str) else None
        if key is None:
            raise OidcRefused("id_token: its kid is not in the provider's JWKS")
        return key


def _unavailable() -> Unavailable:
    return Unavailable(
        "identity_provider_unavailable",
        _("The identity provider cannot be reached; try again in a moment."),
    )
