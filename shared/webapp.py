"""The FastAPI application every service is built on: errors, health, readiness, tracing."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import asdict
from datetime import datetime
from importlib.resources import files
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.authz import Caller, apply_policy, authorize
from shared.blobstore import BlobStore
from shared.clock import china_time
from shared.errors import ApiError, error_body, install_error_handlers
from shared.heap import settle_heap
from shared.i18n import _
from shared.pagination import MAX_PAGE, Limit
from shared.request_layer import RequestLayer
from shared.runtime import ServiceRuntime


async def _runtime(request: Request) -> ServiceRuntime:
    runtime: ServiceRuntime = request.app.state.runtime
    return runtime


async def _db_session(request: Request) -> AsyncIterator[AsyncSession]:
    runtime: ServiceRuntime = request.app.state.runtime
    async with runtime.db.transaction() as session:
        yield session


Runtime = Annotated[ServiceRuntime, Depends(_runtime)]


async def _blobs(request: Request) -> BlobStore:
    runtime: ServiceRuntime = request.app.state.runtime
    return runtime.blobs


Blobs = Annotated[BlobStore, Depends(_blobs)]
# One transaction per request. scope="function" commits when the endpoint returns, BEFORE the
# response is sent: a client never sees a success whose commit then failed.
DbSession = Annotated[AsyncSession, Depends(_db_session, scope="function")]


class BodySizeLimit:
    """Refuse request bodies over `max_bytes` with 413, before anything is parsed or stored.

    A declared Content-Length over the limit is refused at once; a chunked body is counted as it
    arrives and refused when it passes the limit (FastAPI re-raises HTTPExceptions from body
    reading, so the contract's error handler shapes the answer).
    """

    def __init__(
        self, app: ASGIApp, max_bytes: int, larger: Mapping[str, int] | None = None
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        # Paths that take larger bodies (an upload of a scan), each with its own limit.
        self.larger = dict(larger or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.larger.get(scope["path"], self.max_bytes)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            response = JSONResponse(
                error_body("payload_too_large", self._message(limit), {"limit_bytes": limit}),
                413,
            )
            await response(scope, receive, send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > limit:
                raise HTTPException(413, self._message(limit))
            return message

        await self.app(scope, counted, send)

    @staticmethod
    def _message(limit: int) -> str:
        return _("The request body is larger than {limit} bytes.", limit=limit)


def _in_china_time(key: dict[str, Any]) -> dict[str, Any]:
    # The trust list's own (signed) text keeps the zone it was written in; an answer gives
    # China time, as every answer does.
    moments = ("valid_from", "retired_at", "revoked_at")
    return key | {
        name: china_time(datetime.fromisoformat(key[name])) if key[name] else None
        for name in moments
    }


# Swagger UI's and ReDoc's files as the pinned fastapi-offline package ships them, served by
# the service itself: FastAPI's own pages load them from a CDN, blank on a network without the
# internet (政务外网).
DOCS_ASSETS = "/docs-assets"
# The pages may load nothing from elsewhere: ReDoc's menu shows a logo from cdn.redoc.ly
# whatever its options, and a page that tries to reach the internet waits on a firewall.
DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:; connect-src 'self'"
)


def serve_offline_docs(app: FastAPI) -> None:
    """`/docs` (Swagger UI) and `/redoc` (ReDoc) over `/openapi.json`, every file from this
    service. Starlette routes, not API routes: public pages outside the API and its policy."""
    assets = str(files("fastapi_offline") / "static")
    app.mount(DOCS_ASSETS, StaticFiles(directory=assets), name="docs-assets")

    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        page = get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{root}{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{root}{DOCS_ASSETS}/favicon.png",
            # Swagger UI would send the document to validator.swagger.io for a badge.
            swagger_ui_parameters={"validatorUrl": None},
        )
        page.headers["Content-Security-Policy"] = DOCS_CSP
        return page

    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        page = get_redoc_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{root}{DOCS_ASSETS}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{DOCS_ASSETS}/favicon.png",
            with_google_fonts=False,  # fonts.googleapis.com is out of reach there too
        )
        page.headers["Content-Security-Policy"] = DOCS_CSP
        return page

    app.router.routes.append(Route("/docs", swagger_ui, include_in_schema=False))
    app.router.routes.append(Route("/redoc", redoc, include_in_schema=False))


def create_service_app(
    runtime: ServiceRuntime,
    routers: Sequence[APIRouter],
    *,
    title: str,
    description: str,
    on_startup: Callable[[], Awaitable[None]] | None = None,
    on_shutdown: Callable[[], Awaitable[None]] | None = None,
    readiness: Callable[[], Mapping[str, str]] | None = None,
    larger_bodies: Mapping[str, int] | None = None,
) -> FastAPI:
    """`on_startup` runs once the runtime is up (topics exist, the relay and consumers run) and
    before the first request is served; `readiness` adds the service's own checks to /readyz;
    `larger_bodies` gives paths (uploads) their own body limit."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        try:
            if on_startup is not None:
                await on_startup()
            settle_heap()
            yield
        finally:
            if on_shutdown is not None:
                await on_shutdown()
            await runtime.stop()

    # Every route passes the one gate of shared.authz (its rule in POLICY) before anything else.
    app = FastAPI(
        title=title,
        description=description,
        version="1.0.0",
        lifespan=lifespan,
        dependencies=[Depends(authorize)],
        # Served from the service's own files instead (serve_offline_docs).
        docs_url=None,
        redoc_url=None,
        # RequestLayer makes the one span per request (and the metric): FastAPI's own
        # telemetry would be a second layer, and its logs record exception messages, which
        # may quote personal data.
        telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False},
    )
    serve_offline_docs(app)
    app.state.settings = runtime.settings
    app.state.runtime = runtime
    install_error_handlers(app)
    app.add_middleware(
        BodySizeLimit, max_bytes=runtime.settings.max_request_body_bytes, larger=larger_bodies
    )
    # Span, X-Trace-Id, language and metric: added last, so it is the outermost of ours and
    # times, traces and translates every answer, a 413 too.
    app.add_middleware(
        RequestLayer,
        metrics=runtime.metrics,
        tracer=runtime.telemetry.provider.get_tracer("tongban.http"),
    )

    @app.get("/metrics", tags=["health"], include_in_schema=False)
    async def metrics() -> Response:
        """Prometheus' text format, this service's registry only (shared.metrics). No token:
        scraped from inside the cluster, where NetworkPolicies decide who reaches it."""
        body, content_type = await runtime.metrics.exposition()
        return Response(body, media_type=content_type)

    @app.get("/healthz", tags=["health"], summary="Liveness")
    async def healthz() -> JSONResponse:
        """503 once a consumer died and could not be restarted: only restarting the process
        helps (a consumer that is being restarted still counts as alive)."""
        dead = runtime.given_up()
        if dead:
            return JSONResponse(
                {"status": "dead", "service": runtime.service, "consumers_given_up": dead}, 503
            )
        return JSONResponse({"status": "ok", "service": runtime.service})

    @app.get("/readyz", tags=["health"], summary="Readiness: database and Kafka reachable")
    async def readyz() -> JSONResponse:
        checks = await runtime.check_ready()
        if readiness is not None:
            checks.update(readiness())
        ok = all(value == "ok" for value in checks.values())
        return JSONResponse(
            {"status": "ok" if ok else "unavailable", "checks": checks}, 200 if ok else 503
        )

    @app.get("/v1/keys", tags=["trust"], summary="Public keys that sign Tongban's events")
    async def public_keys() -> dict[str, object]:
        """Every key of the trust list this service verifies with (signed by the province key
        authority), current, retired (`retired_at`) and revoked (`revoked_at`): the service
        keys and the localities' seals that sign events (headers `ce_signer`, `ce_signature`),
        so anyone can check an event. No token needed."""
        keys = runtime.settings.key_ring().public_keys()
        return {"keys": [_in_china_time(key.as_json()) for key in keys]}

    @app.get(
        "/v1/ops/outbox",
        tags=["operations"],
        summary="Outbox backlog and parked events (operators)",
    )
    async def outbox_status(_: Caller, limit: Limit = MAX_PAGE) -> dict[str, object]:
        """What waits to be published, and the events Kafka refused for good, with the reason:
        a parked event is held, never lost, until an operator fixes the cause."""
        stats = await runtime.relay.stats()
        parked = await runtime.relay.parked_rows(limit=limit)
        return {
            "pending": stats.pending,
            "parked": stats.parked,
            "oldest_pending_seconds": round(stats.oldest_pending_seconds, 3),
            "parked_since_start": runtime.relay.parked_total,
            "parked_events": [
                {**asdict(row), "parked_at": china_time(row.parked_at)} for row in parked
            ],
        }

    @app.post(
        "/v1/ops/outbox/{seq}/requeue",
        tags=["operations"],
        summary="Send a parked event again (operators)",
    )
    async def requeue_parked(seq: int, _operator: Caller) -> dict[str, object]:
        """Make one parked event (its `seq` in `parked_events`) pending again, once the cause
        Kafka refused it for is fixed; the relay publishes it at once. 404 if no such event is
        parked (already sent, or requeued by someone else)."""
        if await runtime.relay.requeue_parked([seq]) == 0:
            raise ApiError(404, "parked_event_not_found", _("No parked event {seq}.", seq=seq))
        return {"seq": seq, "requeued": True}

    for router in routers:
        app.include_router(router)
    apply_policy(app, runtime.service)

    return app
