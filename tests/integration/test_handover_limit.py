"""The hand-over limit holds under concurrency (delivery, real database): a window firing many
refused hand-overs at once gets no more refusals than HANDOVER_MAX_FAILURES before 429."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import create_async_engine

from services.delivery.db import FailedHandoverRow
from tests import factories
from tests.harness import Stack

pytestmark = pytest.mark.integration


async def test_concurrent_refused_hand_overs_never_exceed_the_limit(stack: Stack) -> None:
    window = "W341100-07"  # a window of its own: its refusals count for nobody else
    token = stack.token("window_clerk", "341100", window_id=window, sub="racer")
    guesses = [factories.resident_id() for _ in range(20)]
    async with stack.client("delivery", token) as delivery:
        answers = await asyncio.gather(
            *(
                delivery.post(
                    "/v1/deliveries/TB000000000001/handover", json={"recipient_id_number": guess}
                )
                for guess in guesses
            )
        )
    limit = stack.settings.handover_max_failures
    codes = sorted(a.status_code for a in answers)
    assert codes == [404] * limit + [429] * (len(guesses) - limit), codes

    engine = create_async_engine(stack.settings.service_database_url("delivery"))
    try:
        async with engine.connect() as connection:
            recorded = await connection.scalar(
                select(func.count())
                .select_from(FailedHandoverRow)
                .where(FailedHandoverRow.window_id == window)
            )
    finally:
        await engine.dispose()
    assert recorded == limit
