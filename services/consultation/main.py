"""视频会商收件 and 视频核验 (services/consultation): a window clerk opens a video consultation
with the competent locality; its reviewers answer; the server relays the call's signalling,
records it (全过程记录) and announces its SM3 digest to the audit ledger.

Run: `tongban serve consultation` (port 8011), or
`uvicorn --factory services.consultation.main:create_app --port 8011`.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from opentelemetry.sdk.trace.export import SpanExporter

from services.consultation import api, pages, signalling
from services.consultation.recording import CallRecorder, aiortc_servers, ice_servers
from services.consultation.usecases.recordings import Recordings
from shared.errors import DomainError, error_body
from shared.i18n import N_, _
from shared.messaging import topics
from shared.runtime import build_runtime
from shared.settings import Settings
from shared.webapp import create_service_app

ERROR_TITLES = {403: N_("Access denied"), 404: N_("Not found"), 409: N_("Not possible now")}


def create_app(
    settings: Settings | None = None, span_exporter: SpanExporter | None = None
) -> FastAPI:
    runtime = build_runtime("consultation", settings, span_exporter)
    settings = runtime.settings
    runtime.declare_topics([topics.CONSULTATION_EVENTS])
    credential = settings.consultation_turn_credential
    servers = ice_servers(
        settings.consultation_stun_urls,
        settings.consultation_turn_urls,
        settings.consultation_turn_username,
        credential.get_secret_value() if credential else None,
    )
    factory = (
        (lambda: CallRecorder(aiortc_servers(servers))) if settings.consultation_record else None
    )
    recordings = Recordings(runtime, factory)
    runtime.every("recording-retention", 3600, recordings.prune)
    app = create_service_app(
        runtime,
        [api.router, pages.router],
        title="Tongban consultation",
        description="视频会商收件 and 视频核验: video calls between a window and the competent "
        "locality's reviewers, signalled and recorded by the server (全过程记录).",
        on_shutdown=recordings.stop,
    )
    app.router.routes.append(signalling.ROUTE)
    app.state.ice_servers = servers
    app.state.recordings = recordings
    app.state.calls = signalling.Calls(app.state)
    app.add_middleware(pages.CookieBearer)
    app.mount("/static", StaticFiles(directory=Path(__file__).parent / "static"), name="static")

    @app.exception_handler(DomainError)
    async def refused(request: Request, error: Exception) -> Response:
        assert isinstance(error, DomainError)
        status = int(error.status_code)
        if request.url.path.startswith("/v1/"):
            return JSONResponse(error_body(error.code, error.message, error.details), status)
        if status == 401:
            return RedirectResponse("/login", status_code=303)
        title = _(ERROR_TITLES.get(status, N_("Something went wrong")))
        return pages.render(request, "error.html", None, status, title=title, message=error.message)

    return app
