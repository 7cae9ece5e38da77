"""Intake service bootstrap: wires settings, telemetry, database, Kafka, the replica of
routing's rules and the API.

Run: `uvicorn --factory services.intake.main:create_app --port 8001`
"""

from __future__ import annotations

from fastapi import FastAPI
from opentelemetry.sdk.trace.export import SpanExporter

from services.intake import consumers, service
from services.intake.api import router
from services.intake.db import ApplicationNumbers
from services.intake.rules_replica import RulesReplica
from services.intake.service import ScanRegistry
from shared.messaging import topics
from shared.runtime import build_runtime
from shared.settings import Settings
from shared.webapp import create_service_app


def create_app(
    settings: Settings | None = None, span_exporter: SpanExporter | None = None
) -> FastAPI:
    runtime = build_runtime("intake", settings, span_exporter)
    runtime.declare_topics([topics.INTAKE_EVENTS, topics.ROUTING_RULES])
    runtime.subscribe(consumers.SUBSCRIPTION)
    replica = RulesReplica(runtime.settings.kafka_bootstrap_servers)

    async def start() -> None:
        async with runtime.db.transaction() as session:
            await service.seed_catalog(session)
            catalog = await service.load_catalog(session)
        app.state.intake = service.Intake(
            runtime.db,
            runtime.outbox,
            catalog,
            replica.book,
            ApplicationNumbers(runtime.db),
            blobs=runtime.blobs,
            scans=ScanRegistry(runtime.db),
            max_scan_bytes=runtime.settings.max_scan_bytes,
        )
        # Read routing's rules to their end before the first request is served.
        await replica.start()

    app = create_service_app(
        runtime,
        [router],
        title="Tongban intake",
        description="Window-facing intake: catalog, applications, one-time notices, progress.",
        on_startup=start,
        on_shutdown=replica.stop,
        readiness=replica.readiness,
        # A scan is a multipart body: the file plus a few hundred bytes of framing.
        larger_bodies={"/v1/materials": runtime.settings.max_scan_bytes + 64 * 1024},
    )
    app.state.replica = replica
    return app
