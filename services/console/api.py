"""The console's pages: server-rendered HTML (Jinja2), in Chinese, no front-end build.

The operator signs in by pasting a bearer token (e.g. `tongban token --role operator
--locality 340000`); it is checked with the services' own token verification and kept in an
HttpOnly, SameSite=Strict cookie, then sent on to the services with each call, so every service
applies its own access rules to the operator. Every page passes `console_caller` (the route's
rule in shared.authz.POLICY["console"]); every POST also carries a CSRF token derived from the
session's token, which another site cannot know.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from services.console.backend import Refused, ServiceUnavailable
from services.console.deps import COOKIE, BackendDep, Operator, Session, check_csrf
from shared.auth import decode_token
from shared.errors import ApiError
from shared.messaging.deadletters import BadDeadLetterId
from shared.reference.localities import get_locality

templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
router = APIRouter()

APPLICATION_STATUS = {
    "accepted": "已受理",
    "routed": "已分办",
    "in_review": "审批中",
    "supplement_requested": "待补正",
    "supplement_submitted": "已补正",
    "approved": "已批准",
    "rejected": "不予批准",
    "ready_for_pickup": "待领取",
    "dispatched": "已寄出",
    "in_transit": "运送中",
    "delivered": "已送达",
    "unroutable": "无法分办",
    "transferred": "已移交",
}
ROLE_NAMES = {"operator": "运维人员", "admin": "管理员"}
NOTICES = {
    "replayed": "死信已重放到原主题，消费者将重新处理。",
    "requeued": "暂存事件已重新排队发送。",
}


def locality_name(code: str | None) -> str:
    if not code:
        return ""
    known = get_locality(code)
    return f"{known.name}（{code}）" if known else code


templates.env.globals.update(
    status_name=lambda status: APPLICATION_STATUS.get(status, status),
    locality_name=locality_name,
    role_name=lambda role: ROLE_NAMES.get(role, role),
)


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
        return render(request, "login.html", None, 401, error="令牌无效或已过期。")
    if principal.role not in ("operator", "admin"):
        return render(
            request,
            "error.html",
            None,
            403,
            title="无权访问",
            message="控制台仅限运维人员（operator）或管理员（admin）使用。",
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
async def logout() -> Response:
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
        message = "未找到该办件，或不在您的辖区内。" if refusal.status == 404 else str(refusal)
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
        problem = f"无法读取死信：{type(error).__name__}"
    outboxes = await backend.outboxes(session.token)
    return render(
        request,
        "dead_letters.html",
        session,
        letters=letters,
        problem=problem,
        outboxes=outboxes,
        notice=NOTICES.get(notice or ""),
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
            title="确认重放死信",
            what=f"死信 {id}",
            explain="该事件将重新发布到原主题；已处理过它的消费者会忽略，失败的消费者会重新处理。",
            fields={"id": id},
            button="确认重放",
        )
    try:
        result = await backend.replay(id)
    except (BadDeadLetterId, LookupError) as error:
        raise ApiError(404, "dead_letter_not_found", f"没有这条死信：{error}") from error
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
            title="确认重新发送",
            what=f"{service} 服务暂存的事件（序号 {seq}）",
            explain="请先确认导致暂存的原因已排除；事件将重新进入发件箱并立即发送。",
            fields={"service": service, "seq": seq},
            button="确认重新发送",
        )
    try:
        await backend.requeue(session.token, service, seq)
    except Refused as refusal:
        raise ApiError(refusal.status, refusal.code, str(refusal)) from refusal
    return _back("requeued", f"{service}:{seq}")
