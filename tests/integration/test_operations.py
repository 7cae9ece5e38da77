"""What operators see: an event Kafka refuses for good is parked with its reason, listed for
them, and the province's applications keep moving behind it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import create_async_engine

from shared.db.messaging_tables import outbox
from shared.messaging import topics
from tests import factories
from tests.harness import Stack, eventually
from tooling.journey import household_application

pytestmark = pytest.mark.integration


async def test_an_event_kafka_refuses_is_parked_listed_for_operators_and_holds_back_nothing(
    stack: Stack,
) -> None:
    # A row bigger than the broker accepts, as a bug or an old release could have written it.
    giant_id = str(uuid.uuid4())
    engine = create_async_engine(stack.settings.service_database_url("intake"))
    async with engine.begin() as connection:
        await connection.execute(
            insert(outbox).values(
                event_id=giant_id,
                topic=topics.INTAKE_EVENTS,
                key="TBGIANT",
                event_type="gov.tongban.application.accepted.v1",
                source="/tongban/intake",
                subject="TBGIANT",
                occurred_at=datetime.now(UTC),
                payload={"application_no": "TBGIANT", "padding": "x" * 2_000_000},
            )
        )
    await engine.dispose()

    # The next application's commit wakes the relay, which meets the giant row first.
    trip = stack.journey()
    accepted = await trip.submit(household_application(factories.applicant()))
    assert accepted.status_code == 201, accepted.text
    await trip.wait_for_status(accepted.json()["application_no"], "in_review")

    operator = stack.token("operator", "340000")
    async with stack.client("intake", operator) as intake:

        async def parked() -> dict[str, object] | None:
            status = (await intake.get("/v1/ops/outbox")).json()
            listed = [e for e in status["parked_events"] if e["event_id"] == giant_id]
            return listed[0] if listed else None

        event = await eventually(parked, within=10)
    assert isinstance(event, dict)
    assert "MessageSizeTooLarge" in str(event["park_reason"])
    assert event["topic"] == topics.INTAKE_EVENTS

    clerk = stack.token("window_clerk", "341200", "W341200-01")
    async with stack.client("intake", clerk) as intake:
        assert (await intake.get("/v1/ops/outbox")).status_code == 403
