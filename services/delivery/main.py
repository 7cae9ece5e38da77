"""Delivery service bootstrap.

Run: `uvicorn --factory services.delivery.main:create_app --port 8004`
"""

from __future__ import annotations

from fastapi import FastAPI
from opentelemetry.sdk.trace.export import SpanExporter

from services.delivery import consumers
from services.delivery.api import router
from shared.messaging import topics
from shared.runtime import build_runtime
from shared.settings import Settings
from shared.webapp import create_service_app


def create_app(
    settings: Settings | None = None, span_exporter: SpanExporter | None = None
) -> FastAPI:
    runtime = build_runtime("delivery", settings, span_exporter)
    runtime.declare_topics([topics.DELIVERY_EVENTS])
    runtime.subscribe(consumers.SUBSCRIPTION)
    return create_service_app(
        runtime,
        [router],
        title="Tongban delivery",
        description="Print queues at receiving windows, hand-over, postal dispatch.",
    )
