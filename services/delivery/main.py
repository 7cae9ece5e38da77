"""Delivery service bootstrap.

Run: `uvicorn --factory services.delivery.main:create_app --port 8004`
"""

from __future__ import annotations

from fastapi import FastAPI
from opentelemetry.sdk.trace.export import SpanExporter

from services.delivery import consumers
from services.delivery.api import router
from shared.messaging import topics
from shared.runtime import ServiceRuntime
from shared.settings import Settings, get_settings
from shared.telemetry import setup_telemetry
from shared.webapp import create_service_app


def create_app(
    settings: Settings | None = None, span_exporter: SpanExporter | None = None
) -> FastAPI:
    settings = settings or get_settings()
    telemetry = setup_telemetry(
        "delivery", otlp_endpoint=settings.otel_exporter_otlp_endpoint, exporter=span_exporter
    )
    runtime = ServiceRuntime("delivery", settings, telemetry)
    runtime.declare_topics([topics.DELIVERY_EVENTS])
    runtime.add_consumer("tongban.delivery", [topics.APPROVAL_EVENTS], consumers.HANDLERS)
    return create_service_app(
        runtime,
        [router],
        title="Tongban delivery",
        description="Print queues at receiving windows, hand-over, postal dispatch.",
    )
