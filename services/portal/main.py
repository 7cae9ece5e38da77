"""The applicants' portal (全程网办): guides, real-name sign-in, online submission, own
applications, notifications by SMS. Its own process, port (8007) and database (tongban_portal);
it calls intake's online routes with its own credential, sends codes and notifications through
the SMS gateway (shared.sms) and reads the applications' facts from Kafka as its own principal
(`portal`).

Run: `tongban serve portal`, or
`uvicorn --factory services.portal.main:create_app --port 8007`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from starlette.routing import BaseRoute

from services.portal import api, applying, bundling, following, oidc, pages
from services.portal.backend import Backend, ServiceUnavailable
from services.portal.deps import LEVELS, SignInRequired, portal_caller
from services.portal.notifications.runtime import Notifier
from services.portal.residents import load_residents
from services.portal.usecases.signin import SignIn, SmsFailed
from shared.db import Database
from shared.errors import DomainError, error_body
from shared.i18n import N_, LocaleMiddleware, _
from shared.settings import Settings, get_settings
from shared.sms import SmsGateway, SmsRefused, SmsUnavailable
from shared.telemetry import setup_telemetry
from shared.webapp import BodySizeLimit

ERROR_TITLES = {
    401: N_("Sign-in required"),
    403: N_("Access denied"),
    404: N_("Not found"),
    429: N_("Too many attempts"),
}
OTHER_ERROR_TITLE = N_("Something went wrong")
MAX_SCANS_PER_FORM = 4


class _Sms:
    """shared.sms.SmsGateway as the sign-in's sender: any failure is SmsFailed."""

    def __init__(self, gateway: SmsGateway) -> None:
        self.gateway = gateway

    async def send(self, to: str, text: str, *, reference: str) -> str:
        try:
            return await self.gateway.send(to, text, reference=reference)
        except (SmsUnavailable, SmsRefused) as error:
            raise SmsFailed(str(error)) from error


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    settings.fail_closed("The portal", "portal")
    db = Database(settings.portal_database(), pool_size=settings.database_pool_size)
    gateway = SmsGateway(settings.sms_gateway_url, timeout=settings.sms_timeout_seconds)
    residents = load_residents(
        settings.portal_residents_file, settings.pii_digest_key.get_secret_value().encode()
    )
    secret = settings.portal_secret.get_secret_value().encode()
    backend = Backend(settings)
    # The province's identity provider, when set, replaces the sign-in by SMS code (pages.py).
    oidc_config = oidc.Config.from_settings(settings)
    provider = oidc.Provider(oidc_config) if oidc_config else None
    telemetry = setup_telemetry("portal", otlp_endpoint=settings.otel_exporter_otlp_endpoint)
    # Notifications by SMS: a consumer of the applications' facts and a sender, in the
    # background (the pages never wait for the broker or the gateway).
    notifier = Notifier(settings, db, residents, gateway, telemetry)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        notifier.start()
        try:
            yield
        finally:
            await notifier.stop()
            await backend.aclose()
            if provider is not None:
                await provider.aclose()
            await gateway.aclose()
            await db.dispose()
            telemetry.shutdown()

    app = FastAPI(
        title="Tongban portal",
        description="全程网办: guides, real-name sign-in, online applications, own progress.",
        version="1.0.0",
        lifespan=lifespan,
        dependencies=[Depends(portal_caller)],
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.backend = backend
    app.state.oidc = provider
    app.state.notifier = notifier
    app.state.signin = SignIn(db, residents, secret, _Sms(gateway))
    # A form carries a few scans; intake refuses each one over MAX_SCAN_BYTES or not a PDF,
    # JPEG or PNG, and this keeps a body from growing without end before that.
    app.add_middleware(BodySizeLimit, max_bytes=MAX_SCANS_PER_FORM * settings.max_scan_bytes)
    app.add_middleware(LocaleMiddleware)
    app.mount("/static", StaticFiles(directory=Path(__file__).parent / "static"), name="static")

    @app.exception_handler(SignInRequired)
    async def to_signin(request: Request, error: Exception) -> Response:
        assert isinstance(error, SignInRequired)
        if error.json:
            body = error_body("sign_in_required", _("Sign in first."), {"level": error.level})
            return JSONResponse(body, 401)
        return pages.signin_redirect(request.url.path, int(error.level))

    @app.exception_handler(DomainError)
    async def error_page(request: Request, error: Exception) -> Response:
        assert isinstance(error, DomainError)
        status = int(error.status_code)
        if request.url.path.startswith("/v1/"):
            return JSONResponse(error_body(error.code, error.message, error.details), status)
        title = _(ERROR_TITLES.get(status, OTHER_ERROR_TITLE))
        return pages.render(request, "error.html", None, status, title=title, message=error.message)

    @app.exception_handler(ServiceUnavailable)
    async def unavailable(request: Request, error: Exception) -> Response:
        title = _(OTHER_ERROR_TITLE)
        return pages.render(request, "error.html", None, 503, title=title, message=str(error))

    @app.get("/healthz", summary="Liveness")
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": "portal"}

    routers = (
        pages.router,
        applying.router,
        bundling.router,
        following.router,
        api.router,
        api.reports,
    )
    for router in routers:
        app.include_router(router)
    _check_levels([*app.routes, *(route for router in routers for route in router.routes)])
    return app


def _check_levels(routes: list[BaseRoute]) -> None:
    """Every route has its level in deps.LEVELS: an unruled route does not start."""
    for route in routes:
        if isinstance(route, APIRoute):
            for method in (route.methods or set()) - {"HEAD", "OPTIONS"}:
                if (method, route.path) not in LEVELS:
                    raise RuntimeError(f"portal: {method} {route.path} has no level in LEVELS")
