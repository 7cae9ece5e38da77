"""The portal's FastAPI dependencies: who is signed in (the session cookie, or the same token as
a bearer for apps), the level each route needs, the CSRF token of forms, and what main.py
builds once.

The cookie carries a random token and its HMAC under the portal's secret: a forged or altered
cookie is refused before the database is asked; the database keeps the token's SHA-256 only.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.routing import APIRoute

from services.portal.backend import Backend
from services.portal.domain import Level
from services.portal.usecases.signin import Applicant, SignIn, session_of
from shared.errors import ApiError
from shared.i18n import _

COOKIE = "tongban_portal_session"

# The level each route needs (READ_GUIDES, FOLLOW_OWN, SUBMIT of domain): a route missing here
# does not start (main.py), as shared.authz does for the services.
LEVELS: dict[tuple[str, str], Level] = {
    ("GET", "/"): Level.L0,
    ("GET", "/guides"): Level.L0,
    ("GET", "/guides/{item_code}"): Level.L0,
    ("GET", "/signin"): Level.L0,
    ("POST", "/signin"): Level.L0,
    ("POST", "/signin/code"): Level.L0,
    # The province's identity provider (oidc.py), when PORTAL_OIDC_ISSUER is set.
    ("GET", "/signin/oidc"): Level.L0,
    ("GET", "/signin/oidc/callback"): Level.L0,
    ("POST", "/signout"): Level.L0,
    ("GET", "/healthz"): Level.L0,
    # The SMS gateway's delivery reports: signed with SMS_REPORT_SECRET (api.delivery_report).
    ("POST", "/v1/sms/reports"): Level.L0,
    ("GET", "/bundles"): Level.L0,
    ("GET", "/bundles/{bundle_id}"): Level.L0,
    ("GET", "/bundles/{bundle_id}/apply"): Level.L3,
    ("POST", "/bundles/{bundle_id}/apply"): Level.L3,
    ("GET", "/bundle-applications/{bundle_no}"): Level.L2,
    ("GET", "/guides/{item_code}/apply"): Level.L3,
    ("POST", "/guides/{item_code}/apply"): Level.L3,
    ("GET", "/applications"): Level.L2,
    ("GET", "/applications/{application_no}"): Level.L2,
    ("POST", "/applications/{application_no}/supplements"): Level.L2,
    ("POST", "/applications/{application_no}/evaluation"): Level.L2,
    ("GET", "/wallet"): Level.L2,
    ("GET", "/wallet/{certificate_no}.pdf"): Level.L2,
    ("GET", "/v1/me"): Level.L2,
    ("GET", "/v1/me/applications"): Level.L2,
    ("GET", "/v1/me/applications/{application_no}"): Level.L2,
    ("GET", "/v1/me/bundles"): Level.L2,
    ("GET", "/v1/me/bundles/{bundle_no}"): Level.L2,
}


class SignInRequired(Exception):
    """No session, or one below the route's level: the browser goes to the sign-in page."""

    def __init__(self, level: Level, json: bool) -> None:
        super().__init__(level)
        self.level = level
        self.json = json


@dataclass(frozen=True)
class Session:
    token: str
    applicant: Applicant
    csrf: str


def _secret(request: Request) -> bytes:
    return request.app.state.settings.portal_secret.get_secret_value().encode()


def sign(secret: bytes, token: str) -> str:
    mac = hmac.new(secret, b"session\x00" + token.encode(), hashlib.sha256).hexdigest()
    return f"{token}.{mac}"


def unsigned(secret: bytes, value: str) -> str | None:
    token = value.rpartition(".")[0]
    if not token or not hmac.compare_digest(sign(secret, token).encode(), value.encode()):
        return None
    return token


def csrf_token(secret: bytes, token: str) -> str:
    return hmac.new(secret, b"csrf\x00" + token.encode(), hashlib.sha256).hexdigest()


async def portal_caller(request: Request) -> Session | None:
    """The route's level from LEVELS, against the session (None on L0 routes without one)."""
    route = request.scope.get("route")
    path = route.path if isinstance(route, APIRoute) else ""
    needed = LEVELS.get((request.method, path))
    if needed is None:
        raise ApiError(403, "forbidden", _("No access rule covers this route."))
    secret = _secret(request)
    bearer = request.headers.get("authorization", "")
    value = bearer[7:] if bearer.lower().startswith("bearer ") else request.cookies.get(COOKIE)
    token = unsigned(secret, value) if value else None
    applicant = await session_of(request.app.state.signin.db, token) if token else None
    if applicant is None or applicant.level < needed:
        if needed == Level.L0:
            return None
        raise SignInRequired(needed, path.startswith("/v1/"))
    assert token is not None
    return Session(token, applicant, csrf_token(secret, token))


async def _signed_in(session: Annotated[Session | None, Depends(portal_caller)]) -> Session:
    if session is None:
        raise SignInRequired(Level.L2, False)
    return session


Optional = Annotated[Session | None, Depends(portal_caller)]
SignedIn = Annotated[Session, Depends(_signed_in)]


def check_csrf(session: Session, submitted: str) -> None:
    if not hmac.compare_digest(session.csrf.encode(), submitted.encode()):
        raise ApiError(
            403, "csrf_mismatch", _("The form has expired; reload the page and try again.")
        )


def _backend(request: Request) -> Backend:
    backend: Backend = request.app.state.backend
    return backend


def _signin(request: Request) -> SignIn:
    signin: SignIn = request.app.state.signin
    return signin


BackendDep = Annotated[Backend, Depends(_backend)]
SignInDep = Annotated[SignIn, Depends(_signin)]
