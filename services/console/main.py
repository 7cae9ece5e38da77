"""Operator console bootstrap: a backend-for-frontend over the services' APIs.

Run: `tongban serve console` (port 8006), or
`uvicorn --factory services.console.main:create_app --port 8006`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import Depends, FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from services.console.api import render, router
from services.console.backend import Backend
from services.console.deps import LoginRequired, console_caller
from shared.authz import apply_policy
from shared.errors import ApiError
from shared.i18n import N_, LocaleMiddleware, _
from shared.settings import Settings, get_settings

ERROR_TITLES = {401: N_("Sign-in required"), 403: N_("Access denied"), 404: N_("Not found")}
OTHER_ERROR_TITLE = N_("Something went wrong")


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    settings.fail_closed("The operator console")
    backend = Backend(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await backend.aclose()

    app = FastAPI(
        title="Tongban operator console",
        description="运维控制台: applications, queues, dead letters, outboxes, consumer lag.",
        version="1.0.0",
        lifespan=lifespan,
        dependencies=[Depends(console_caller)],
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.settings = settings
    app.state.backend = backend
    app.add_middleware(LocaleMiddleware)  # pages in the language the browser asks for
    app.mount("/static", StaticFiles(directory=Path(__file__).parent / "static"), name="static")

    @app.exception_handler(LoginRequired)
    async def to_login(_: Request, __: Exception) -> Response:
        return RedirectResponse("/login", status_code=303)

    @app.exception_handler(ApiError)
    async def error_page(request: Request, error: Exception) -> Response:
        assert isinstance(error, ApiError)
        status = int(error.status_code)
        return render(
            request,
            "error.html",
            None,
            status,
            title=_(ERROR_TITLES.get(status, OTHER_ERROR_TITLE)),
            message=error.message,
        )

    @app.get("/healthz", summary="Liveness")
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": "console"}

    app.include_router(router)
    apply_policy(app, "console")
    return app
