"""Intake service bootstrap: wires settings, telemetry, database, Kafka, the replica of
routing's rules, the catalog and the scan registry (built once, handed out by deps.py), the API
and the consumers.

Run: `uvicorn --factory services.intake.main:create_app --port 8001`
"""

from __future__ import annotations

from fastapi import FastAPI
from opentelemetry.sdk.trace.export import SpanExporter

from services.intake import consumers
from services.intake.api import router
from services.intake.applicant_api import router as online_router
from services.intake.bundle_api import router as bundle_router
from services.intake.db import ApplicationNumbers
from services.intake.deps import Dependencies
from services.intake.online_bundle_api import router as online_bundle_router
from services.intake.rules_replica import RulesReplica
from services.intake.usecases.catalog import (
    CATALOG_REFRESH_SECONDS,
    Catalog,
    publish_built_in_catalog,
    refresh_catalog,
)
from services.intake.usecases.scans import ScanRegistry
from shared.deps import install
from shared.messaging import topics
from shared.runtime import build_runtime
from shared.settings import Settings
from shared.webapp import create_service_app

CATALOG_BODY_BYTES = 4 * 1024 * 1024


def create_app(
    settings: Settings | None = None, span_exporter: SpanExporter | None = None
) -> FastAPI:
    runtime = build_runtime("intake", settings, span_exporter)
    runtime.declare_topics([topics.INTAKE_EVENTS, topics.ROUTING_RULES])
    for subscription in consumers.SUBSCRIPTIONS:
        runtime.subscribe(subscription)
    replica = RulesReplica(
        runtime.settings.kafka_bootstrap_servers,
        runtime.verifier,
        security=runtime.kafka_security,
    )
    # One holder of the published catalog versions for the life of the process; a version
    # published through another intake process is learnt within CATALOG_REFRESH_SECONDS.
    catalog = Catalog()

    # What the endpoints hand to the use cases (deps.py), built once for the process.
    dependencies = Dependencies(
        db=runtime.db,
        outbox=runtime.outbox,
        catalog=catalog,
        rules=replica.book,
        numbers=ApplicationNumbers(runtime.db),
        scans=ScanRegistry(runtime.db),
        max_scan_bytes=runtime.settings.max_scan_bytes,
        digest_key=runtime.settings.pii_digest_key.get_secret_value().encode(),
    )

    async def refresh() -> None:
        async with runtime.db.transaction() as session:
            await refresh_catalog(session, catalog)

    runtime.every("catalog-refresh", CATALOG_REFRESH_SECONDS, refresh)

    async def start() -> None:
        async with runtime.db.transaction() as session:
            await publish_built_in_catalog(session, runtime.outbox)
        await refresh()
        # Read routing's rules to their end before the first request is served.
        await replica.start()

    app = create_service_app(
        runtime,
        [router, bundle_router, online_router, online_bundle_router],
        title="Tongban intake",
        description="Window-facing intake: catalog, applications, one-time notices, progress.",
        on_startup=start,
        on_shutdown=replica.stop,
        readiness=replica.readiness,
        larger_bodies={
            # A scan is a multipart body: the file plus a few hundred bytes of framing.
            "/v1/materials": runtime.settings.max_scan_bytes + 64 * 1024,
            "/v1/online/materials": runtime.settings.max_scan_bytes + 64 * 1024,
            # A whole catalog: up to MAX_CATALOG_ITEMS guides of a few KiB each.
            "/v1/catalog/versions": CATALOG_BODY_BYTES,
        },
    )
    install(app, dependencies)
    app.state.replica = replica
    return app
