"""The FastAPI application every service is built on: errors, health, readiness, tracing."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from sqlalchemy.ext.asyncio import AsyncSession

from shared.errors import install_error_handlers
from shared.runtime import ServiceRuntime
from shared.telemetry import current_trace_id


def _runtime(request: Request) -> ServiceRuntime:
    runtime: ServiceRuntime = request.app.state.runtime
    return runtime


async def _db_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with _runtime(request).db.transaction() as session:
        yield session


Runtime = Annotated[ServiceRuntime, Depends(_runtime)]
# One transaction per request. scope="function" commits when the endpoint returns, BEFORE the
# response is sent: a client never sees a success whose commit then failed.
DbSession = Annotated[AsyncSession, Depends(_db_session, scope="function")]


def create_service_app(
    runtime: ServiceRuntime,
    routers: Sequence[APIRouter],
    *,
    title: str,
    description: str,
    on_startup: Callable[[], Awaitable[None]] | None = None,
    on_shutdown: Callable[[], Awaitable[None]] | None = None,
) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if on_startup is not None:
            await on_startup()
        await runtime.start()
        try:
            yield
        finally:
            await runtime.stop()
            if on_shutdown is not None:
                await on_shutdown()

    app = FastAPI(title=title, description=description, version="1.0.0", lifespan=lifespan)
    app.state.settings = runtime.settings
    app.state.runtime = runtime
    install_error_handlers(app)

    @app.middleware("http")
    async def trace_id_header(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        # Operators paste this id into the tracing UI to follow the whole journey.
        response = await call_next(request)
        trace_id = current_trace_id()
        if trace_id:
            response.headers["X-Trace-Id"] = trace_id
        return response

    @app.get("/healthz", tags=["health"], summary="Liveness")
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": runtime.service}

    @app.get("/readyz", tags=["health"], summary="Readiness: database and Kafka reachable")
    async def readyz() -> JSONResponse:
        checks = await runtime.check_ready()
        ok = all(value == "ok" for value in checks.values())
        return JSONResponse(
            {"status": "ok" if ok else "unavailable", "checks": checks}, 200 if ok else 503
        )

    for router in routers:
        app.include_router(router)

    FastAPIInstrumentor.instrument_app(
        app, tracer_provider=runtime.telemetry.provider, excluded_urls="healthz,readyz"
    )
    return app
