"""好差评: the applicant rates a finished application once, and operators see the ratings per
window, locality and item."""

from __future__ import annotations

import pytest
from aiokafka import ConsumerRecord

from shared.messaging import topics
from shared.messaging.events import ApplicationEvaluated
from tests import factories
from tests.harness import Stack, header, read_topic
from tooling.journey import household_application

pytestmark = pytest.mark.integration


async def test_a_delivered_application_is_rated_once_and_counted_for_its_window(
    stack: Stack,
) -> None:
    trip = stack.journey()
    applicant = factories.applicant()
    accepted = await trip.submit(household_application(applicant))
    number = accepted.json()["application_no"]
    async with stack.client("intake", trip.clerk_token) as intake:
        early = await intake.post(f"/v1/applications/{number}/evaluation", json={"score": 5})
        assert early.status_code == 409 and early.json()["error"]["code"] == "not_finished"

        await trip.approve(number, "340100")
        await trip.wait_in_print_queue(number)
        assert (await trip.hand_over(number, applicant["id_number"])).status_code == 200
        await trip.wait_for_status(number, "delivered")

        out_of_range = await intake.post(f"/v1/applications/{number}/evaluation", json={"score": 6})
        assert out_of_range.status_code == 422
        rated = await intake.post(
            f"/v1/applications/{number}/evaluation", json={"score": 4, "comment": "办得快"}
        )
        assert rated.status_code == 201, rated.text
        assert rated.json()["score"] == 4
        again = await intake.post(f"/v1/applications/{number}/evaluation", json={"score": 1})
        assert again.status_code == 409 and again.json()["error"]["code"] == "already_evaluated"
        assert (await intake.get("/v1/evaluations/statistics")).status_code == 403

    def ratings(records: list[ConsumerRecord[bytes, bytes]]) -> int:
        return sum(
            header(r, "ce_subject") == number
            and header(r, "ce_type") == ApplicationEvaluated.event_type
            for r in records
        )

    records = await read_topic(
        stack.settings,
        topics.INTAKE_EVENTS,
        until=lambda records: ratings(records) >= 1,
    )
    assert ratings(records) == 1

    operator = stack.token("operator", "341200")
    async with stack.client("intake", operator) as intake:
        by_window = (await intake.get("/v1/evaluations/statistics", params={"by": "window"})).json()
        by_item = (await intake.get("/v1/evaluations/statistics", params={"by": "item"})).json()
    window = next(g for g in by_window["groups"] if g["key"] == "W341200-01")
    assert window["count"] >= 1 and window["scores"]["4"] >= 1
    assert any(g["key"] == "GA-HJ-001" for g in by_item["groups"])
    # Hefei decided it, so its operators see the window's ratings too; Wuhu neither received
    # nor decided it, and the same question there does not count it.
    seen_from = {}
    for locality in ("340100", "340200"):
        async with stack.client("intake", stack.token("operator", locality)) as operators:
            response = await operators.get("/v1/evaluations/statistics", params={"by": "window"})
        assert response.status_code == 200, response.text
        seen_from[locality] = {g["key"] for g in response.json()["groups"]}
    assert "W341200-01" in seen_from["340100"]
    assert "W341200-01" not in seen_from["340200"]
