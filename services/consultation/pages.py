"""The call view (视频会商), server-rendered in Chinese (shared.i18n), with one script
(static/call.js) for WebRTC: the clerk rings, a reviewer of the competent locality answers,
both see each other, either hangs up; the reviewer records the originals seen by video.

Staff sign in by pasting their token (as in the operator console): it is kept in an HttpOnly,
SameSite=Strict cookie, which `CookieBearer` hands to the service's one gate
(shared.authz.authorize) as the bearer token for the pages, the signalling socket and the
recording's playback: the same rights as the REST API. Every form carries a CSRF token.
"""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader
from starlette.types import ASGIApp, Receive, Scope, Send

from services.consultation import agreements
from services.consultation.api import detailed
from services.consultation.usecases import consultations
from shared.auth import Principal, decode_token
from shared.authz import Caller
from shared.errors import ApiError
from shared.i18n import HTTP_TAGS, N_, _, current_locale
from shared.webapp import DbSession, Runtime

COOKIE = "tongban_consultation_session"
STATES = {
    "requested": N_("Requested"),
    "ringing": N_("Ringing"),
    "in_call": N_("In call"),
    "ended": N_("Ended"),
}
router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(
    env=Environment(
        loader=FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=True,
        extensions=["jinja2.ext.i18n"],
    )
)
templates.env.install_gettext_callables(  # type: ignore[attr-defined]
    gettext=_, ngettext=lambda one, many, n, **params: _(one if n == 1 else many, **params)
)
templates.env.globals.update(
    html_lang=lambda: HTTP_TAGS[current_locale()],
    state_name=lambda state: _(STATES.get(state) or state),
)
PAGE_HEADERS = {
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}


class CookieBearer:
    """The pages' cookie as the bearer token, where no Authorization header is sent: on the
    pages, the signalling socket and the recording's playback only (a /v1 API call carries
    its own header)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and _takes_cookie(scope):
            headers = list(scope["headers"])
            if scope["type"] == "websocket" and not _same_origin(headers):
                # Cross-site WebSocket hijacking: another site's page would ride on the cookie.
                await self.app(scope, receive, send)
                return
            if not any(name == b"authorization" for name, _ in headers):
                token = _cookie(headers)
                if token:
                    headers.append((b"authorization", b"Bearer " + token.encode()))
                    scope = {**scope, "headers": headers}
        await self.app(scope, receive, send)


def _takes_cookie(scope: Scope) -> bool:
    path: str = scope["path"]
    if scope["type"] == "websocket":
        return path.endswith("/signal")
    if path.startswith("/v1/"):
        return scope.get("method") == "GET" and path.endswith("/recording")
    return True


def _same_origin(headers: list[tuple[bytes, bytes]]) -> bool:
    """A browser's socket names the page's origin: it must be this very host."""
    found = dict(headers)
    origin, host = found.get(b"origin"), found.get(b"host")
    return origin is not None and host is not None and origin.split(b"://", 1)[-1] == host


def _cookie(headers: list[tuple[bytes, bytes]]) -> str | None:
    for name, value in headers:
        if name == b"cookie":
            for part in value.decode("latin-1").split(";"):
                key, _sep, token = part.strip().partition("=")
                if key == COOKIE and token:
                    return token
    return None


def csrf_token(token: str) -> str:
    return hashlib.sha256(b"tongban-consultation-csrf\x00" + token.encode()).hexdigest()


def _check_csrf(request: Request, submitted: str) -> None:
    token = _cookie(list(request.scope["headers"])) or ""
    if not hmac.compare_digest(csrf_token(token).encode(), submitted.encode()):
        raise ApiError(
            403, "csrf_mismatch", _("The form has expired; reload the page and try again.")
        )


def render(
    request: Request, template: str, who: Principal | None, status: int = 200, **context: Any
) -> HTMLResponse:
    token = _cookie(list(request.scope["headers"])) or ""
    response = templates.TemplateResponse(
        request,
        template,
        {"who": who, "csrf": csrf_token(token) if token else "", **context},
        status_code=status,
    )
    response.headers.update(PAGE_HEADERS)
    return response


@router.get("/login")
async def login_page(request: Request) -> HTMLResponse:
    return render(request, "login.html", None)


@router.post("/login")
async def login(request: Request, token: Annotated[str, Form(max_length=8192)]) -> Response:
    token = token.strip()
    try:
        await decode_token(request.app.state.settings, token)
    except ApiError:
        error = _("The token is invalid or has expired.")
        return render(request, "login.html", None, 401, error=error)
    response = RedirectResponse("/", status_code=303)
    secure = request.url.scheme == "https"
    response.set_cookie(COOKIE, token, httponly=True, samesite="strict", secure=secure, path="/")
    return response


@router.post("/logout")
async def logout(request: Request, csrf: Annotated[str, Form(max_length=128)] = "") -> Response:
    if _cookie(list(request.scope["headers"])):
        _check_csrf(request, csrf)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


@router.get("/")
async def index(request: Request, db: DbSession, who: Caller) -> HTMLResponse:
    rows = await consultations.listed(db, who)
    return render(request, "index.html", who, consultations=rows)


@router.post("/consultations")
async def open_page(
    request: Request,
    db: DbSession,
    runtime: Runtime,
    clerk: Caller,
    item_code: Annotated[str, Form(min_length=1, max_length=32)],
    locality: Annotated[str, Form(pattern=r"^\d{6}$")],
    topic: Annotated[str, Form(min_length=1, max_length=500)],
    csrf: Annotated[str, Form(max_length=128)],
    application_no: Annotated[str, Form(max_length=32)] = "",
    draft_ref: Annotated[str, Form(max_length=32)] = "",
) -> Response:
    _check_csrf(request, csrf)
    if not application_no.strip() and not draft_ref.strip():
        raise ApiError(
            422,
            "invalid_request",
            _("Name the application, or the draft's reference before acceptance."),
        )
    opening = consultations.Opening(
        item_code=item_code.strip(),
        locality=locality,
        topic=topic.strip(),
        application_no=application_no.strip() or None,
        draft_ref=draft_ref.strip() or None,
    )
    row = await consultations.open_consultation(db, runtime.outbox, clerk, opening)
    return RedirectResponse(f"/consultations/{row.consultation_id}", status_code=303)


@router.get("/consultations/{consultation_id}")
async def call_page(
    request: Request, consultation_id: str, db: DbSession, who: Caller
) -> HTMLResponse:
    row = await consultations.visible(db, who, consultation_id)
    shown = await detailed(db, row)
    side = "clerk" if who.role == "window_clerk" else "reviewer"
    presence = await consultations.presence(db, consultation_id)
    return render(request, "call.html", who, c=shown, side=side, presence=presence)


@router.post("/consultations/{consultation_id}/verifications")
async def verify_page(
    request: Request,
    consultation_id: str,
    db: DbSession,
    runtime: Runtime,
    reviewer: Caller,
    material_code: Annotated[str, Form(min_length=1, max_length=32)],
    csrf: Annotated[str, Form(max_length=128)],
    note: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    _check_csrf(request, csrf)
    row = await consultations.visible(db, reviewer, consultation_id)
    token = _cookie(list(request.scope["headers"])) or ""
    await agreements.check_verify_right(
        runtime.settings.routing_url, token, row.locality, row.window_locality, row.item_code
    )
    await consultations.verify_material(
        db, runtime.outbox, reviewer, consultation_id, material_code.strip(), note.strip()
    )
    return RedirectResponse(f"/consultations/{consultation_id}", status_code=303)
