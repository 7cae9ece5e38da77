"""Approval service bootstrap: one instance serves the localities it is configured for.

Run: `APPROVAL_LOCALITIES=340100,340102 \
     uvicorn --factory services.approval.main:create_app --port 8003`
(no APPROVAL_LOCALITIES: every known locality).
"""

from __future__ import annotations

from fastapi import FastAPI
from opentelemetry.sdk.trace.export import SpanExporter

from services.approval import consumers, service
from services.approval.api import router
from shared.messaging import topics
from shared.reference.localities import locality_codes
from shared.runtime import build_runtime
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
            await service.supervise_deadlines(session, runtime.outbox)

    runtime.every(
        "deadline-supervision", runtime.settings.deadline_scan_seconds, supervise_deadlines
    )
    return create_service_app(
        runtime,
        [router],
        title="Tongban approval",
        description="Review cases of the competent locality: claim, decide, deadlines.",
    )
