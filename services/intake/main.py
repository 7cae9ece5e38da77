"""Intake service bootstrap: wires settings, telemetry, database, Kafka, routing and the API.

Run: `uvicorn --factory services.intake.main:create_app --port 8001`
"""

from __future__ import annotations

from fastapi import FastAPI
from opentelemetry.sdk.trace.export import SpanExporter

from services.intake import consumers, service
from services.intake.api import router
from services.intake.routing_client import RoutingClient
from shared.messaging import topics
from shared.runtime import build_runtime
from shared.settings import Settings
from shared.webapp import create_service_app


def create_app(
    settings: Settings | None = None, span_exporter: SpanExporter | None = None
) -> FastAPI:
    runtime = build_runtime("intake", settings, span_exporter)
    runtime.declare_topics([topics.INTAKE_EVENTS])
    runtime.add_consumer("tongban.intake.progress", consumers.progress_topics(), consumers.HANDLERS)
    routing = RoutingClient(runtime.settings.routing_url, runtime.telemetry.provider)

    async def seed() -> None:
        async with runtime.db.transaction() as session:
            await service.seed_catalog(session)

    app = create_service_app(
        runtime,
        [router],
        title="Tongban intake",
        description="Window-facing intake: catalog, applications, one-time notices, progress.",
        on_startup=seed,
        on_shutdown=routing.close,
    )
    app.state.routing = routing
    return app
