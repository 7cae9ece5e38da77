"""The console's FastAPI dependencies: the operator's session (the bearer token in the session
cookie, checked against the route's rule in shared.authz.POLICY["console"]) and the backend
main.py builds once. Every POST also carries a CSRF token derived from the session's token,
which another site cannot know."""

from __future__ import annotations

import hashlib
import hmac
from typing import Annotated

from fastapi import Depends, Request
from fastapi.routing import APIRoute

from services.console.backend import Backend
from shared.auth import Principal, decode_token
from shared.authz import rule_for
from shared.errors import ApiError
from shared.i18n import _

SERVICE = "console"
COOKIE = "tongban_console_session"


class LoginRequired(Exception):
    """No session (or an expired one): the browser goes to the login page."""


def csrf_token(bearer: str) -> str:
    """Tied to the session's token: a form of another site cannot carry it."""
    return hashlib.sha256(b"tongban-console-csrf\x00" + bearer.encode()).hexdigest()


class Session:
    def __init__(self, principal: Principal, token: str) -> None:
        self.principal = principal
        self.token = token
        self.csrf = csrf_token(token)


async def console_caller(request: Request) -> Session | None:
    """The route's rule in POLICY["console"], checked against the session cookie's token."""
    route = request.scope.get("route")
    rule = rule_for(SERVICE, request.method, route.path) if isinstance(route, APIRoute) else None
    if rule is None:
        raise ApiError(403, "forbidden", "No access rule covers this route.")
    if rule.scope == "public":
        return None
    token = request.cookies.get(COOKIE)
    if not token:
        raise LoginRequired()
    try:
        principal = await decode_token(request.app.state.settings, token)
    except ApiError as error:
        if error.status_code == 401:
            raise LoginRequired() from error
        raise
    if principal.role not in rule.roles:
        raise ApiError(
            403,
            "forbidden_role",
            _("The console is for operators (operator) and administrators (admin) only."),
            {"role": principal.role},
        )
    return Session(principal, token)


async def _session(session: Annotated[Session | None, Depends(console_caller)]) -> Session:
    if session is None:  # a public page asked for a session
        raise LoginRequired()
    return session


Operator = Annotated[Session, Depends(_session)]


def _backend(request: Request) -> Backend:
    backend: Backend = request.app.state.backend
    return backend


BackendDep = Annotated[Backend, Depends(_backend)]


def check_csrf(session: Session, submitted: str) -> None:
    # As bytes: a submitted text that is not ASCII is a mismatch, not a server error.
    if not hmac.compare_digest(session.csrf.encode(), submitted.encode()):
        raise ApiError(
            403, "csrf_mismatch", _("The form has expired; reload the page and try again.")
        )
