"""Routing service bootstrap: wires settings, telemetry, database, Kafka and the HTTP API.

Run: `uvicorn --factory services.routing.main:create_app --port 8002`
"""

from __future__ import annotations

import logging

from fastapi import FastAPI
from opentelemetry.sdk.trace.export import SpanExporter

from services.routing import consumers
from services.routing.api import router
from services.routing.deps import Dependencies
from services.routing.usecases import ledger, rules, verification
from shared.audit.checkpoints import CheckpointFollower
from shared.audit.ledger import LEDGER_SIGNER
from shared.deps import install
from shared.messaging import topics
from shared.reference.localities import locality_codes
from shared.runtime import build_runtime
from shared.settings import Settings
from shared.webapp import create_service_app

log = logging.getLogger(__name__)


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
    # One key ring for the process: it signs the ledger and checks its signatures against the
    # trust list (read again when the list changes).
    ring = runtime.settings.key_ring()
    # The audit ledger: every event of every topic chained, the head signed and published
    # every few seconds, or sooner once enough entries wait unsigned; until then each entry
    # carries routing's MAC, checked before the checkpoint signs it.
    signer = ring.signer(LEDGER_SIGNER)
    guard = ledger.TailGuard(ledger.entry_macs(ring))
    schedule = ledger.CheckpointSchedule(runtime.settings.ledger_checkpoint_entries)
    runtime.subscribe(consumers.ledger_subscription(guard, schedule))

    async def checkpoint_ledger() -> None:
        async with runtime.db.transaction() as session:
            await ledger.checkpoint_ledger(session, runtime.outbox, signer, guard, schedule)

    every = runtime.settings.ledger_checkpoint_seconds
    runtime.every("ledger-checkpoint", every, checkpoint_ledger, wake=schedule.due)

    # The chain is held to the checkpoints as published, read back from the retained topic
    # (shared.audit.checkpoints), and verified in the background from where the last
    # verification stopped; the console shows the stored verdict.
    checkpoints = CheckpointFollower(
        ring,
        bootstrap_servers=runtime.settings.kafka_bootstrap_servers,
        name="tongban-routing-checkpoints",
        verifier=runtime.verifier,
        security=runtime.kafka_security,
    )

    async def verify_ledger() -> None:
        if not checkpoints.loaded:
            return  # not before every checkpoint published so far was read
        async with runtime.db.transaction() as session:
            result = await verification.verify_incrementally(session, ring, checkpoints.published)
        if not result.ok:
            log.error("audit ledger verification failed: %s", result.problem)

    runtime.every("ledger-verify", runtime.settings.ledger_verify_seconds, verify_ledger)

    async def start() -> None:
        await checkpoints.start()
        async with runtime.db.transaction() as session:
            await rules.publish_state(session, runtime.outbox)

    app = create_service_app(
        runtime,
        [router],
        title="Tongban routing",
        description="Competent locality resolution, trust agreements, routing to localities.",
        on_startup=start,
        on_shutdown=checkpoints.stop,
        readiness=checkpoints.readiness,
    )
    install(app, Dependencies(outbox=runtime.outbox, ring=ring, checkpoints=checkpoints))
    return app
