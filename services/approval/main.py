"""Approval service bootstrap: one instance serves the localities it is configured for.

Run: `APPROVAL_LOCALITIES=340100,340102 \
     uvicorn --factory services.approval.main:create_app --port 8003`
(no APPROVAL_LOCALITIES: every known locality).
"""

from __future__ import annotations

from datetime import timedelta

from fastapi import FastAPI
from opentelemetry.sdk.trace.export import SpanExporter
from prometheus_client import Gauge

from services.approval import consumers
from services.approval.api import router
from services.approval.deps import Dependencies
from services.approval.seals import Seals
from services.approval.usecases import supervision
from services.approval.usecases.certificates import Issuer
from shared.deps import install
from shared.messaging import topics
from shared.reference.localities import locality_codes
from shared.runtime import ServiceRuntime, build_runtime
from shared.settings import Settings
from shared.webapp import create_service_app


def create_app(
    settings: Settings | None = None, span_exporter: SpanExporter | None = None
) -> FastAPI:
    runtime = build_runtime("approval", settings, span_exporter)
    served = runtime.settings.approval_localities or locality_codes()
    runtime.declare_topics([topics.APPROVAL_EVENTS])
    runtime.subscribe(consumers.subscription(served, runtime.settings.approval_consumer_group))

    async def supervise_deadlines() -> None:
        async with runtime.db.transaction() as session:
            await supervision.supervise_deadlines(session, runtime.outbox)

    runtime.every(
        "deadline-supervision", runtime.settings.deadline_scan_seconds, supervise_deadlines
    )
    report_cases(runtime)
    app = create_service_app(
        runtime,
        [router],
        title="Tongban approval",
        description="Review cases of the competent locality: claim, decide, deadlines.",
    )
    install(app, dependencies(runtime))
    return app


def dependencies(runtime: ServiceRuntime) -> Dependencies:
    """What the endpoints hand their use cases, built once: the seals' key ring notices a
    rotation made elsewhere, so one serves the process's life."""
    settings = runtime.settings
    seals = Seals(settings.key_ring())
    return Dependencies(
        outbox=runtime.outbox,
        personal=runtime.personal,
        telemetry=runtime.telemetry,
        seals=seals,
        issuer=Issuer(seals, settings.certificate_valid_years),
        digest_key=settings.pii_digest_key.get_secret_value().encode(),
        claim_lapse=timedelta(minutes=settings.claim_lapse_minutes),
    )


def report_cases(runtime: ServiceRuntime) -> None:
    """Cases by locality and status, warnings and overdue cases, read from this instance's
    database whenever /metrics is scraped (shared.metrics)."""
    registry = runtime.metrics.registry
    per_status = Gauge(
        "tongban_cases", "Cases by locality and status.", ["locality", "status"], registry=registry
    )
    warning = Gauge(
        "tongban_cases_warning",
        "Cases in review past three quarters of their working days, not yet overdue.",
        ["locality"],
        registry=registry,
    )
    overdue = Gauge(
        "tongban_cases_overdue",
        "Cases in review past their deadline.",
        ["locality"],
        registry=registry,
    )

    async def refresh() -> None:
        async with runtime.db.transaction() as session:
            counts = await supervision.case_counts(session)
        # Cleared and set with no await in between: a scrape sees one reading, and a locality
        # whose cases all closed drops out instead of keeping its last count.
        for gauge in (per_status, warning, overdue):
            gauge.clear()
        for (locality, status), count in counts.by_status.items():
            per_status.labels(locality, status).set(count)
        for locality, count in counts.warning.items():
            warning.labels(locality).set(count)
        for locality, count in counts.overdue.items():
            overdue.labels(locality).set(count)

    runtime.metrics.refresh_on_scrape("cases", refresh)
