"""The portal's pages: server-rendered HTML (Jinja2), no front-end build, for a phone first, in
the language the browser's Accept-Language asks for (Chinese unless English; shared.i18n).

Guides are public (L0); the sign-in sends a one-time code to the phone registered with the ID
number, or, when PORTAL_OIDC_ISSUER is set, goes to the province's identity provider (oidc.py)
and the routes of the code answer 404; either way the session is kept in an HttpOnly,
SameSite=Lax, signed cookie (deps.py); every POST made while signed in carries the session's
CSRF token.
"""

from __future__ import annotations

import hmac
import logging
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader

from services.portal import oidc
from services.portal.deps import (
    COOKIE,
    BackendDep,
    Optional,
    Session,
    SignInDep,
    check_csrf,
    sign,
)
from services.portal.usecases import bundles, guides, signin, wallet
from shared.errors import NotFound
from shared.i18n import HTTP_TAGS, N_, _, current_locale

router = APIRouter()
log = logging.getLogger(__name__)

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
# An application's status in words, as the applicant reads it.
STATUS = {
    "accepted": N_("Accepted"),
    "routed": N_("Routed"),
    "in_review": N_("In review"),
    "supplement_requested": N_("Waiting for a supplement"),
    "supplement_submitted": N_("Supplement handed in"),
    "approved": N_("Approved"),
    "rejected": N_("Rejected"),
    "ready_for_pickup": N_("Ready for pickup"),
    "dispatched": N_("Posted"),
    "delivered": N_("Delivered"),
    "transferred": N_("Transferred"),
    "withdrawn": N_("Withdrawn"),
}


def status_name(status: str | None) -> str:
    known = STATUS.get(status or "")
    return _(known) if known else (status or "")


# 一件事: the bundle's state, and each child's in its bundle.
BUNDLE_STATUS = {
    "open": N_("In progress"),
    "completed": N_("Completed"),
    "failed": N_("Ended: a required service was refused"),
}
CHILD_STATUS = {
    "held": N_("Waiting for another department's certificate"),
    "accepted": N_("Accepted"),
    "released": N_("Accepted with the certificate it waited for (no upload)"),
}


def bundle_status(status: str | None) -> str:
    known = BUNDLE_STATUS.get(status or "")
    return _(known) if known else (status or "")


def child_status(child: dict[str, Any]) -> str:
    """A child's decision once announced, else where it stands in its bundle."""
    outcome = child.get("outcome")
    if outcome:
        return status_name(str(outcome))
    known = CHILD_STATUS.get(str(child.get("status", "")))
    return _(known) if known else str(child.get("status", ""))


templates.env.globals.update(
    html_lang=lambda: HTTP_TAGS[current_locale()],
    status_name=status_name,
    bundle_status=bundle_status,
    child_status=child_status,
)

# The pages load nothing from elsewhere and run no script; forms post to the portal only.
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
        "base-uri 'none'; frame-ancestors 'none'"
    ),
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}


def render(
    request: Request,
    template: str,
    session: Session | None,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    response = templates.TemplateResponse(
        request, template, {"session": session, **context}, status_code=status_code
    )
    response.headers.update(PAGE_HEADERS)
    return response


def safe_next(target: str) -> str:
    """Only a path of this site: an open redirect would hand the session's first page elsewhere
    (browsers read "/\\host" as "//host")."""
    local = target.startswith("/") and not target.startswith("//") and "\\" not in target
    return target if local else "/applications"


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


@router.get("/", summary="首页")
async def home(request: Request, session: Optional) -> HTMLResponse:
    return render(request, "index.html", session)


@router.get("/guides", summary="办事指南检索")
async def list_guides(
    request: Request, session: Optional, q: Annotated[str, Query(max_length=64)] = ""
) -> HTMLResponse:
    found = bundles.search(q)
    return render(request, "guides.html", session, items=guides.search(q), bundles=found, query=q)


@router.get("/guides/{item_code}", summary="办事指南")
async def show_guide(
    request: Request, item_code: str, session: Optional, backend: BackendDep
) -> HTMLResponse:
    # Signed in: the materials the applicant's own valid e-certificates prove are marked.
    own = await wallet.citable(backend, session.applicant.id_digest) if session else None
    found = guides.guide(item_code, own)
    if found is None:
        raise NotFound("unknown_item", _("No catalog item {item_code}.", item_code=item_code))
    return render(request, "guide.html", session, guide=found)


@router.get("/signin", summary="实名登录")
async def signin_page(
    request: Request,
    session: Optional,
    next: Annotated[str, Query(max_length=200)] = "/applications",
    level: Annotated[int | None, Query(ge=0, le=3)] = None,
) -> HTMLResponse:
    return render(
        request,
        "signin.html",
        session,
        next=safe_next(next),
        level=level,
        oidc=_provider(request) is not None,
    )


def _provider(request: Request) -> oidc.Provider | None:
    provider: oidc.Provider | None = request.app.state.oidc
    return provider


def _built_in(request: Request) -> None:
    """The sign-in by SMS code exists only while no identity provider replaces it: two doors
    would leave the weaker one (the built-in registry of residents) open beside the
    province's."""
    if _provider(request) is not None:
        raise NotFound("not_found", _("Sign-in goes through the identity provider."))


@router.post("/signin", summary="发送验证码")
async def send_code(
    request: Request,
    context: SignInDep,
    session: Optional,
    id_number: Annotated[str, Form(max_length=32)],
    next: Annotated[str, Form(max_length=200)] = "/applications",
) -> HTMLResponse:
    _built_in(request)
    challenge_id = await signin.request_code(context, id_number, client_address(request))
    return render(request, "signin.html", session, challenge_id=challenge_id, next=safe_next(next))


@router.post("/signin/code", summary="核验验证码")
async def check_code(
    request: Request,
    context: SignInDep,
    challenge_id: Annotated[str, Form(max_length=36)],
    code: Annotated[str, Form(max_length=12)],
    name: Annotated[str, Form(max_length=64)] = "",
    next: Annotated[str, Form(max_length=200)] = "/applications",
) -> Response:
    _built_in(request)
    outcome = await signin.verify_code(context, challenge_id, code, name, client_address(request))
    if isinstance(outcome, signin.Refused):
        return render(
            request,
            "signin.html",
            None,
            401,
            error=outcome.message,
            challenge_id=challenge_id if outcome.outcome is signin.domain.Outcome.WRONG else None,
            next=safe_next(next),
        )
    return _session_response(request, outcome, next)


def _secret(request: Request) -> bytes:
    secret: bytes = request.app.state.signin.secret
    return secret


def _session_response(request: Request, signed: signin.Signed, next: str) -> Response:
    """On to the page asked for, with the session's cookie (after a code or the provider)."""
    response = RedirectResponse(safe_next(next), status_code=303)
    response.set_cookie(
        COOKIE,
        sign(_secret(request), signed.token),
        httponly=True,
        # Lax: the link in an SMS opens the applicant's own page signed in; a POST from another
        # site carries no cookie, and every signed-in form also carries the CSRF token.
        samesite="lax",
        secure=request.url.scheme == "https",
        max_age=int(signin.domain.SESSION_LIFETIME.total_seconds()),
        path="/",
    )
    return response


@router.post("/signout", summary="退出")
async def sign_out(
    request: Request, session: Optional, csrf: Annotated[str, Form(max_length=128)] = ""
) -> Response:
    if session is not None:
        check_csrf(session, csrf)
        await signin.sign_out(request.app.state.signin.db, session.token)
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


def _redirect_uri(request: Request, provider: oidc.Provider) -> str:
    return provider.config.redirect_url or str(request.url_for("oidc_callback"))


@router.get("/signin/oidc", summary="统一身份认证登录")
async def oidc_begin(
    request: Request,
    session: Optional,
    next: Annotated[str, Query(max_length=200)] = "/applications",
) -> Response:
    provider = _provider(request)
    if provider is None:
        raise NotFound("not_found", _("No identity provider is configured."))
    pending = oidc.Pending(next=safe_next(next))
    url = await provider.authorization_url(pending, _redirect_uri(request, provider))
    response = RedirectResponse(url, status_code=303)
    response.set_cookie(
        oidc.COOKIE,
        oidc.seal(_secret(request), pending),
        httponly=True,
        # Lax: the provider sends the browser back with a top-level GET, which carries it.
        samesite="lax",
        secure=request.url.scheme == "https",
        max_age=oidc.PENDING_SECONDS,
        path=oidc.COOKIE_PATH,
    )
    return response


@router.get("/signin/oidc/callback", summary="统一身份认证回调")
async def oidc_callback(
    request: Request,
    session: Optional,
    state: Annotated[str, Query(max_length=256)] = "",
    code: Annotated[str, Query(max_length=2048)] = "",
    error: Annotated[str, Query(max_length=256)] = "",
) -> Response:
    provider = _provider(request)
    if provider is None:
        raise NotFound("not_found", _("No identity provider is configured."))
    pending = oidc.unseal(_secret(request), request.cookies.get(oidc.COOKIE, ""))
    try:
        # The state must be the one this browser's cookie holds: a code obtained by someone
        # else (login CSRF) or an answer replayed after the cookie is gone signs in nobody.
        if pending is None or not hmac.compare_digest(pending.state.encode(), state.encode()):
            raise oidc.OidcRefused("state is not this browser's login")
        if error or not code:
            raise oidc.OidcRefused("the provider answered no code")
        digest_key = request.app.state.settings.pii_digest_key.get_secret_value().encode()
        applicant, level = await provider.sign_in(
            code, pending, _redirect_uri(request, provider), digest_key
        )
    except oidc.OidcRefused as refusal:
        log.warning("identity provider sign-in refused: %s", refusal.reason)
        response: Response = render(
            request,
            "signin.html",
            None,
            401,
            error=_(refusal.message),
            oidc=True,
            next=pending.next if pending else "/applications",
        )
    else:
        signed = await signin.open_session(request.app.state.signin.db, applicant, level)
        response = _session_response(request, signed, pending.next)
    response.delete_cookie(oidc.COOKIE, path=oidc.COOKIE_PATH)
    return response


def signin_redirect(path: str, level: int) -> RedirectResponse:
    return RedirectResponse(f"/signin?next={quote(path, safe='/')}&level={level}", status_code=303)
