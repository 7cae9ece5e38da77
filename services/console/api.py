"""The console's pages: server-rendered HTML (Jinja2), no front-end build, in the language the
browser's Accept-Language asks for (Chinese unless English; shared.i18n), times in China time.

The operator signs in by pasting a bearer token (e.g. `tongban token --role operator
--locality 340000`); it is checked with the services' own token verification and kept in an
HttpOnly, SameSite=Strict cookie, then sent on to the services with each call, so every service
applies its own access rules to the operator. Every page passes `console_caller` (the route's
rule in shared.authz.POLICY["console"]); every POST also carries a CSRF token derived from the
session's token, which another site cannot know (signing out too).
"""

from __future__ import annotations

import hmac
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader

from services.console import display
from services.console.backend import Refused, ServiceUnavailable
from services.console.deps import COOKIE, BackendDep, Operator, Session, check_csrf, csrf_token
from shared.auth import decode_token
from shared.errors import ApiError
from shared.i18n import HTTP_TAGS, N_, _, current_locale
from shared.messaging.deadletters import BadDeadLetterId

NOTICES = {
    "replayed": N_("The dead letter was replayed to its topic; its consumers handle it again."),
    "requeued": N_("The parked event was queued to be sent again."),
}

router = APIRouter()

# Every text of the templates goes through shared.i18n's `_` (`{{ _("...", name=value) }}`,
# placeholders filled by `_` itself), so the request's Accept-Language decides the language.
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
    status_name=display.status_name,
    event_description=display.event_description,
    item_name=display.item_name,
    locality_name=display.locality_name,
    role_name=display.role_name,
    html_lang=lambda: HTTP_TAGS[current_locale()],
)
templates.env.filters.update(china_time=display.china_time, iso_time=display.iso_time)


def render(
    request: Request,
    template: str,
    session: Session | None,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    return templates.TemplateResponse(
        request,
        template,
        {"session": session, "path": request.url.path, **context},
        status_code=status_code,
    )


# --- sign in and out ---------------------------------------------------------------------------


@router.get("/login", summary="登录")
async def login_page(request: Request) -> HTMLResponse:
    return render(request, "login.html", None)


@router.post("/login", summary="登录（提交令牌）")
async def login(request: Request, token: Annotated[str, Form(max_length=8192)]) -> Response:
    token = token.strip()
    try:
        principal = await decode_token(request.app.state.settings, token)
    except ApiError:
        return render(
            request, "login.html", None, 401, error=_("The token is invalid or has expired.")
        )
    if principal.role not in ("operator", "admin"):
        return render(
            request,
            "error.html",
            None,
            403,
            title=_("Access denied"),
            message=_("The console is for operators (operator) and administrators (admin) only."),
        )
    response = RedirectResponse("/", status_code=303)
    response.set_cookie(
        COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )
    return response


@router.post("/logout", summary="退出")
async def logout(request: Request, csrf: Annotated[str, Form(max_length=128)] = "") -> Response:
    """Signs out only with the session's CSRF token: another site's form cannot sign the
    operator out. The token is taken from the cookie without checking it, so an expired session
    can still sign out."""
    token = request.cookies.get(COOKIE)
    if token and not hmac.compare_digest(csrf_token(token).encode(), csrf.encode()):
        raise ApiError(
            403, "csrf_mismatch", _("The form has expired; reload the page and try again.")
        )
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


# --- 概览 -----------------------------------------------------------------------------------------


@router.get("/", summary="概览")
async def overview(request: Request, session: Operator, backend: BackendDep) -> HTMLResponse:
    shown = await backend.overview(session.token)
    return render(
        request,
        "overview.html",
        session,
        ledger=shown.ledger,
        outboxes=shown.outboxes,
        lag=shown.lag,
        total_lag=shown.total_lag,
        lag_problem=shown.lag_problem,
        dead_letter_count=shown.dead_letter_count,
        dead_letter_problem=shown.dead_letter_problem,
        processes=shown.processes,
    )


# --- 办件查询 -------------------------------------------------------------------------------------


@router.get("/applications", summary="办件查询")
async def application_page(
    request: Request,
    session: Operator,
    backend: BackendDep,
    no: Annotated[str | None, Query(max_length=32)] = None,
) -> HTMLResponse:
    no = (no or "").strip()
    if not no:
        return render(request, "application.html", session, no="", view=None)
    try:
        view = await backend.application(no, session.token)
    except Refused as refusal:
        message = (
            _("No such application, or not within your jurisdiction.")
            if refusal.status == 404
            else str(refusal)
        )
        return render(
            request, "application.html", session, refusal.status, no=no, view=None, error=message
        )
    except ServiceUnavailable as error:
        return render(request, "application.html", session, 502, no=no, view=None, error=str(error))
    return render(request, "application.html", session, no=no, view=view)


# --- 各地队列 -------------------------------------------------------------------------------------


@router.get("/queues", summary="各地队列")
async def queues_page(
    request: Request,
    session: Operator,
    backend: BackendDep,
    locality: Annotated[str | None, Query(pattern=r"^(\d{6})?$")] = None,
    overdue: Annotated[bool, Query()] = False,
) -> HTMLResponse:
    error, cases = None, []
    try:
        cases = await backend.queue(
            session.token, locality=locality or None, overdue=True if overdue else None
        )
    except (Refused, ServiceUnavailable) as failure:
        error = str(failure)
    by_locality: dict[str, list[dict[str, Any]]] = {}
    for case in cases:
        by_locality.setdefault(case["locality"], []).append(case)
    return render(
        request,
        "queues.html",
        session,
        locality=locality or "",
        overdue=overdue,
        by_locality=dict(sorted(by_locality.items())),
        error=error,
    )


# --- 一件事 ---------------------------------------------------------------------------------------


@router.get("/bundles", summary="一件事")
async def bundles_page(
    request: Request,
    session: Operator,
    backend: BackendDep,
    status: Annotated[Literal["open", "completed", "failed"] | None, Query()] = None,
) -> HTMLResponse:
    error, bundles = None, []
    try:
        bundles = await backend.bundles(session.token, status=status)
    except (Refused, ServiceUnavailable) as failure:
        error = str(failure)
    return render(
        request, "bundles.html", session, status=status or "", bundles=bundles, error=error
    )


# --- 死信与暂存 -----------------------------------------------------------------------------------


@router.get("/dead-letters", summary="死信与暂存")
async def dead_letters_page(
    request: Request,
    session: Operator,
    backend: BackendDep,
    notice: Annotated[str | None, Query(max_length=32)] = None,
    ref: Annotated[str | None, Query(max_length=300)] = None,
) -> HTMLResponse:
    letters, problem = [], None
    try:
        letters = await backend.dead_letters()
    except Exception as error:
        problem = _("Cannot read the dead letters: {error}", error=type(error).__name__)
    outboxes = await backend.outboxes(session.token)
    return render(
        request,
        "dead_letters.html",
        session,
        letters=letters,
        problem=problem,
        outboxes=outboxes,
        notice=_(NOTICES[notice]) if notice in NOTICES else None,
        ref=ref,
    )


def _back(notice: str, ref: str) -> RedirectResponse:
    return RedirectResponse(
        "/dead-letters?" + urlencode({"notice": notice, "ref": ref}), status_code=303
    )


@router.post("/dead-letters/replay", summary="重放死信（先确认）")
async def replay_dead_letter(
    request: Request,
    session: Operator,
    backend: BackendDep,
    id: Annotated[str, Form(max_length=300)],
    csrf: Annotated[str, Form(max_length=128)],
    confirm: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    """Without `confirm`: the confirmation page, nothing done; with it: the replay."""
    check_csrf(session, csrf)
    if confirm != "yes":
        return render(
            request,
            "confirm.html",
            session,
            action="/dead-letters/replay",
            title=_("Confirm the replay"),
            what=_("Dead letter {id}", id=id),
            explain=_(
                "The event is published to its original topic again; consumers that handled it "
                "already ignore it, the one that failed handles it again."
            ),
            fields={"id": id},
            button=_("Yes, replay it"),
        )
    try:
        result = await backend.replay(id)
    except (BadDeadLetterId, LookupError) as error:
        raise ApiError(
            404, "dead_letter_not_found", _("No such dead letter: {error}", error=str(error))
        ) from error
    return _back("replayed", f"{result.topic}:{result.partition}:{result.offset}")


@router.post("/outbox/requeue", summary="重新发送暂存事件（先确认）")
async def requeue_parked(
    request: Request,
    session: Operator,
    backend: BackendDep,
    service: Annotated[str, Form(max_length=16)],
    seq: Annotated[int, Form()],
    csrf: Annotated[str, Form(max_length=128)],
    confirm: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    check_csrf(session, csrf)
    if confirm != "yes":
        return render(
            request,
            "confirm.html",
            session,
            action="/outbox/requeue",
            title=_("Confirm sending again"),
            what=_("The event parked by {service} (seq {seq})", service=service, seq=seq),
            explain=_(
                "Make sure the cause it was parked for is fixed first; the event goes back to "
                "the outbox and is sent at once."
            ),
            fields={"service": service, "seq": seq},
            button=_("Yes, send it again"),
        )
    try:
        await backend.requeue(session.token, service, seq)
    except Refused as refusal:
        raise ApiError(refusal.status, refusal.code, str(refusal)) from refusal
    return _back("requeued", f"{service}:{seq}")
