"""Routing service bootstrap: wires settings, telemetry, database, Kafka and the HTTP API.

Run: `uvicorn --factory services.routing.main:create_app --port 8002`
"""

from __future__ import annotations

from fastapi import FastAPI
from opentelemetry.sdk.trace.export import SpanExporter

from services.routing import consumers, service
from services.routing.api import router
from shared.messaging import topics
from shared.reference.localities import locality_codes
from shared.runtime import build_runtime
from shared.settings import Settings
from shared.webapp import create_service_app


def create_app(
    settings: Settings | None = None, span_exporter: SpanExporter | None = None
) -> FastAPI:
    runtime = build_runtime("routing", settings, span_exporter)
    runtime.declare_topics(
        [
            *topics.approval_request_topics(locality_codes()),
            topics.ROUTING_EVENTS,
            topics.ROUTING_RULES,
            topics.AUDIT_CHECKPOINTS,
        ]
    )
    runtime.subscribe(consumers.SUBSCRIPTION)
    # The audit ledger: every event of every topic chained, the head signed and published.
    signer = runtime.settings.key_ring().signer(service.LEDGER_SIGNER)
    runtime.subscribe(consumers.ledger_subscription(signer))

    async def checkpoint_ledger() -> None:
        async with runtime.db.transaction() as session:
            await service.checkpoint_ledger(session, runtime.outbox, signer)

    every = runtime.settings.ledger_checkpoint_seconds
    runtime.every("ledger-checkpoint", every, checkpoint_ledger)

    async def publish_state() -> None:
        async with runtime.db.transaction() as session:
            await service.publish_state(session, runtime.outbox)

    return create_service_app(
        runtime,
        [router],
        title="Tongban routing",
        description="Competent locality resolution, trust agreements, routing to localities.",
        on_startup=publish_state,
    )
