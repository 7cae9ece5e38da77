"""Fixtures: the real infrastructure (Kafka + PostgreSQL from the project's launcher) and the
in-process Tongban stack on top of it, both started once per test session."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from shared.db.migrations import upgrade
from shared.reference.localities import locality_codes
from shared.settings import Settings, with_database
from tests.harness import Stack, serve
from tooling.infra import Infrastructure, ensure_databases, local_infrastructure

# Two approval instances serve disjoint localities: B takes 马鞍山 and 淮北, A everything else.
APPROVAL_B_LOCALITIES = ["340500", "340600"]
TEST_DATABASES = {
    "intake": "tongban_test_intake",
    "routing": "tongban_test_routing",
    "approval": "tongban_test_approval",
    "approval_b": "tongban_test_approval_b",
    "delivery": "tongban_test_delivery",
}


@pytest.fixture(scope="session")
def infrastructure(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Infrastructure]:
    work_dir = Path(os.environ.get("TONGBAN_TEST_WORK_DIR") or tmp_path_factory.mktemp("infra"))
    with local_infrastructure(work_dir) as infra:
        yield infra


@pytest.fixture(scope="session")
def spans() -> InMemorySpanExporter:
    exporter = InMemorySpanExporter()
    # Process-wide instrumentations (asyncpg, aiokafka) report here; each service's own spans
    # come from its own provider, which the stack points at the same exporter.
    provider = TracerProvider(resource=Resource.create({"service.name": "tongban-tests"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    return exporter


@pytest.fixture(scope="session")
def test_settings(infrastructure: Infrastructure) -> Settings:
    ensure_databases(infrastructure.database_url, list(TEST_DATABASES.values()), recreate=True)
    for service, database in TEST_DATABASES.items():
        upgrade(service.removesuffix("_b"), with_database(infrastructure.database_url, database))
    return Settings(
        kafka_bootstrap_servers=infrastructure.kafka_bootstrap_servers,
        database_url=infrastructure.database_url,
        intake_database_url=with_database(infrastructure.database_url, TEST_DATABASES["intake"]),
        routing_database_url=with_database(infrastructure.database_url, TEST_DATABASES["routing"]),
        approval_database_url=with_database(
            infrastructure.database_url, TEST_DATABASES["approval"]
        ),
        delivery_database_url=with_database(
            infrastructure.database_url, TEST_DATABASES["delivery"]
        ),
        approval_localities=[c for c in locality_codes() if c not in APPROVAL_B_LOCALITIES],
        outbox_poll_seconds=0.05,
        consumer_backoff_seconds=0.05,
        consumer_max_attempts=3,
    )


@pytest.fixture(scope="session")
async def stack(
    test_settings: Settings, spans: InMemorySpanExporter, infrastructure: Infrastructure
) -> AsyncIterator[Stack]:
    from services.approval.main import create_app as create_approval
    from services.delivery.main import create_app as create_delivery
    from services.intake.main import create_app as create_intake
    from services.routing.main import create_app as create_routing

    running = Stack(settings=test_settings, spans=spans)
    routing = await serve("routing", lambda _: create_routing(test_settings, spans))
    running.services["routing"] = routing
    intake_settings = test_settings.model_copy(update={"routing_url": routing.base_url})
    running.services["intake"] = await serve(
        "intake", lambda _: create_intake(intake_settings, spans)
    )
    running.services["approval"] = await serve(
        "approval", lambda _: create_approval(test_settings, spans)
    )
    approval_b_settings = test_settings.model_copy(
        update={
            "approval_localities": APPROVAL_B_LOCALITIES,
            "approval_database_url": with_database(
                infrastructure.database_url, TEST_DATABASES["approval_b"]
            ),
            "approval_consumer_group": "tongban.approval.b",
        }
    )
    running.services["approval_b"] = await serve(
        "approval_b", lambda _: create_approval(approval_b_settings, spans)
    )
    running.services["delivery"] = await serve(
        "delivery", lambda _: create_delivery(test_settings, spans)
    )
    try:
        yield running
    finally:
        await running.stop()
        await asyncio.sleep(0)
