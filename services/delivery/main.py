"""Delivery service bootstrap.

Run: `uvicorn --factory services.delivery.main:create_app --port 8004`
"""

from __future__ import annotations

from fastapi import FastAPI
from opentelemetry.sdk.trace.export import SpanExporter

from services.delivery import consumers
from services.delivery.api import router
from services.delivery.carrier import CarrierClient
from services.delivery.deps import Dependencies, HandoverLimit
from services.delivery.holder_api import router as holder_router
from services.delivery.ratelimit import PostgresCounters, VerificationLimiter, trusted_networks
from services.delivery.usecases import dispatch, parcels
from shared.deps import install
from shared.messaging import topics
from shared.runtime import ServiceRuntime, build_runtime
from shared.settings import Settings
from shared.webapp import create_service_app


def create_app(
    settings: Settings | None = None, span_exporter: SpanExporter | None = None
) -> FastAPI:
    runtime = build_runtime("delivery", settings, span_exporter)
    runtime.declare_topics([topics.DELIVERY_EVENTS])
    for subscription in consumers.SUBSCRIPTIONS:
        runtime.subscribe(subscription)
    carrier = schedule_postal_dispatch(runtime)
    # Windows of the verification limit that ended (services/delivery/ratelimit.py).
    runtime.every("rate-limit-prune", 60, PostgresCounters(runtime.db).prune)
    app = create_service_app(
        runtime,
        [router, holder_router],
        title="Tongban delivery",
        description="Print queues at receiving windows, hand-over, postal dispatch.",
        on_shutdown=carrier.aclose,
    )
    install(app, dependencies(runtime))
    return app


def dependencies(runtime: ServiceRuntime) -> Dependencies:
    """What the endpoints hand their use cases, built once (the key ring reads its trust list
    again when the file changed)."""
    settings = runtime.settings
    return Dependencies(
        db=runtime.db,
        outbox=runtime.outbox,
        personal=runtime.personal,
        telemetry=runtime.telemetry,
        public_key=settings.key_ring().public_key,
        digest_key=settings.pii_digest_key.get_secret_value().encode(),
        handover_limit=HandoverLimit(
            settings.handover_max_failures, settings.handover_failure_window_minutes
        ),
        public_base_url=settings.public_base_url,
        # Counted in delivery's database: the limit holds across delivery processes.
        verification_limiter=VerificationLimiter(
            settings.verify_rate_limit_per_minute, PostgresCounters(runtime.db)
        ),
        trusted_proxies=trusted_networks(settings.trusted_proxies),
        carrier_webhook_secret=settings.carrier_webhook_secret.get_secret_value(),
    )


def schedule_postal_dispatch(runtime: ServiceRuntime) -> CarrierClient:
    """邮政寄递: every CARRIER_POLL_SECONDS, hand the due dispatches and bundles' parcels to
    the carrier; the client, to close at shutdown."""
    settings = runtime.settings
    carrier = CarrierClient.from_settings(settings)

    async def dispatch_postal() -> None:
        for due in (dispatch.dispatch_due, parcels.dispatch_due_parcels):  # 一件事: one parcel
            await due(
                runtime.db,
                runtime.outbox,
                carrier,
                runtime.telemetry,
                backoff_seconds=settings.carrier_poll_seconds,
            )

    runtime.every("postal-dispatch", settings.carrier_poll_seconds, dispatch_postal)
    return carrier
