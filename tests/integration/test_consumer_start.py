"""A service's consumer starting on a fresh broker (as `make run` starts them): Kafka names no
group coordinator until it has made __consumer_offsets, and the start waits for it quietly
instead of logging a score of GroupCoordinatorNotAvailableError lines at ERROR."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest

from services.routing.consumers import SUBSCRIPTION
from shared.messaging.consumer import ConsumerRunner
from shared.messaging.kafka import client_security
from shared.settings import Settings
from tooling.infra import Infrastructure, local_infrastructure
from tooling.kafka_access import tongban_acl_table

pytestmark = pytest.mark.integration

# aiokafka's heartbeat interval (3 s) and a margin.
HEARTBEAT_SETTLES_SECONDS = 5.0


@pytest.fixture(scope="module")
def fresh_broker(
    infrastructure: Infrastructure, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Infrastructure]:
    """A broker of its own that no consumer group has used yet (the session's PostgreSQL)."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("DATABASE_URL", infrastructure.database_url)
        env.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
        work_dir = Path(tmp_path_factory.mktemp("fresh-broker"))
        with local_infrastructure(work_dir, acl_table=tongban_acl_table()) as infra:
            yield infra


async def test_a_consumer_starts_on_a_fresh_broker_without_an_error(
    fresh_broker: Infrastructure, caplog: pytest.LogCaptureFixture
) -> None:
    # Starting the broker held this thread, so the session stack's consumers missed their
    # heartbeats: they complain and rejoin as soon as the loop runs again. Not this test's
    # business; let them settle before listening.
    await asyncio.sleep(HEARTBEAT_SETTLES_SECONDS)
    caplog.clear()
    caplog.set_level(logging.INFO)
    routing = Settings(
        kafka_bootstrap_servers=fresh_broker.kafka_bootstrap_servers,
        **fresh_broker.kafka_settings("routing"),
    )
    unused = cast(Any, None)  # the start touches neither the database nor the outbox
    runner = ConsumerRunner(
        name=SUBSCRIPTION.name,
        topics=SUBSCRIPTION.topics,
        handlers=SUBSCRIPTION.by_type,
        db=unused,
        outbox=unused,
        producer=unused,
        telemetry=unused,
        bootstrap_servers=routing.kafka_bootstrap_servers,
        group_id=SUBSCRIPTION.group_id,
        security=client_security(routing),
    )
    await runner.start()
    try:
        # It joined its group: partitions of routing's topics are assigned to it.
        for _ in range(150):
            await runner.consumer.getmany(timeout_ms=100)
            if runner.consumer.assignment():
                break
            await asyncio.sleep(0.1)
        assert {tp.topic for tp in runner.consumer.assignment()} == set(SUBSCRIPTION.topics)
    finally:
        await runner.stop()
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == []
