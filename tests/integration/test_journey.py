"""End to end through the public APIs: window → routing → approval → delivery → hand-over."""

from __future__ import annotations

import pytest

from tests import factories
from tests.harness import Stack
from tooling.journey import household_application

pytestmark = pytest.mark.integration


async def test_an_application_accepted_in_fuyang_is_approved_in_hefei_and_delivered_at_the_window(
    stack: Stack,
) -> None:
    trip = stack.journey()
    applicant = factories.applicant("340104")

    accepted = await trip.submit(household_application(applicant))

    assert accepted.status_code == 201, accepted.text
    receipt = accepted.json()
    assert receipt["status"] == "accepted"
    assert receipt["receiving_locality"] == "341200"
    assert receipt["window_id"] == "W341200-01"
    assert receipt["competent_locality"] == "340100"
    assert receipt["deferred"] == ["M02"]
    number = receipt["application_no"]

    await trip.wait_for_status(number, "in_review")
    decided = await trip.approve(number, "340100")
    assert decided["status"] == "approved" and decided["certificate_no"]

    job = await trip.wait_in_print_queue(number)
    assert job["certificate_no"] == decided["certificate_no"]
    assert job["holder_name_masked"] == "张**"

    wrong = await trip.hand_over(number, factories.resident_id())
    assert wrong.status_code == 409
    assert wrong.json()["error"]["code"] == "recipient_mismatch"

    handed = await trip.hand_over(number, applicant["id_number"])
    assert handed.status_code == 200, handed.text
    assert handed.json()["status"] == "delivered"

    final = await trip.wait_for_status(number, "delivered")
    assert final["status"] == "delivered"
    statuses = [entry["status"] for entry in final["timeline"]]
    assert statuses == [
        "accepted",
        "routed",
        "in_review",
        "approved",
        "ready_for_pickup",
        "delivered",
    ]
    localities = {entry["status"]: entry["locality"] for entry in final["timeline"]}
    assert localities["accepted"] == "341200"
    assert localities["approved"] == "340100"
    assert localities["delivered"] == "341200"


async def test_each_approval_instance_receives_only_its_own_localities(stack: Stack) -> None:
    trip = stack.journey()
    hefei = await trip.submit(household_application(factories.applicant("340104")))
    maanshan = await trip.submit(household_application(factories.applicant("340500")))
    assert hefei.status_code == 201 and maanshan.status_code == 201, (hefei.text, maanshan.text)
    hefei_no, maanshan_no = hefei.json()["application_no"], maanshan.json()["application_no"]
    assert maanshan.json()["competent_locality"] == "340500"

    await trip.wait_for_case(hefei_no, "340100", service="approval")
    await trip.wait_for_case(maanshan_no, "340500", service="approval_b")

    # Each instance's database holds only its own: the other instance has never seen it.
    async with stack.client("approval", trip.approver_token("340500")) as a:
        assert (await a.get(f"/v1/cases/{maanshan_no}")).status_code == 404
        assert (await a.get("/v1/cases")).json()["cases"] == []
    async with stack.client("approval_b", trip.approver_token("340100")) as b:
        assert (await b.get(f"/v1/cases/{hefei_no}")).status_code == 404
        assert (await b.get("/v1/cases")).json()["cases"] == []


async def test_intake_routing_approval_and_delivery_spans_of_one_application_share_one_trace(
    stack: Stack,
) -> None:
    trip = stack.journey()
    applicant = factories.applicant("340104")
    response = await trip.submit(household_application(applicant))
    assert response.status_code == 201, response.text
    number = response.json()["application_no"]
    trace_id_header = response.headers["X-Trace-Id"]

    await trip.approve(number, "340100")
    await trip.wait_in_print_queue(number)
    assert (await trip.hand_over(number, applicant["id_number"])).status_code == 200
    await trip.wait_for_status(number, "delivered")

    mine = [
        span
        for span in stack.spans.get_finished_spans()
        if (span.attributes or {}).get("tongban.application_no") == number
    ]
    by_service: dict[str, set[str]] = {}
    for span in mine:
        service = str(span.resource.attributes["service.name"])
        by_service.setdefault(service, set()).add(format(span.context.trace_id, "032x"))
    assert set(by_service) >= {
        "tongban-intake",
        "tongban-routing",
        "tongban-approval",
        "tongban-delivery",
    }
    assert {trace_id for ids in by_service.values() for trace_id in ids} == {trace_id_header}

    # No span attribute carries the applicant's identity.
    for span in stack.spans.get_finished_spans():
        values = " ".join(str(v) for v in (span.attributes or {}).values())
        assert applicant["id_number"] not in values
        assert applicant["phone"] not in values


async def test_lists_come_in_pages_of_at_most_100_with_a_cursor(stack: Stack) -> None:
    async with stack.client("routing", stack.token("operator", "340000")) as routing:
        everything = (await routing.get("/v1/agreements")).json()
        assert everything["next_cursor"] is None and len(everything["agreements"]) >= 3
        first = (await routing.get("/v1/agreements", params={"limit": 2})).json()
        assert len(first["agreements"]) == 2 and first["next_cursor"]
        rest = (
            await routing.get(
                "/v1/agreements", params={"limit": 100, "cursor": first["next_cursor"]}
            )
        ).json()
        ids = [a["id"] for a in first["agreements"] + rest["agreements"]]
        assert ids == [a["id"] for a in everything["agreements"]]  # no repeat, no gap
        too_many = await routing.get("/v1/agreements", params={"limit": 101})
        assert too_many.status_code == 422
        forged = await routing.get("/v1/agreements", params={"cursor": "bm90IGEgY3Vyc29y"})
        assert forged.status_code == 422
        assert forged.json()["error"]["code"] == "invalid_cursor"


async def test_a_window_guessing_at_hand_overs_is_stopped_and_every_refusal_is_on_record(
    stack: Stack,
) -> None:
    from sqlalchemy import func, select
    from sqlalchemy.ext.asyncio import create_async_engine

    from services.delivery.db import FailedHandoverRow

    window = "W341200-05"  # a window of its own: its refusals count for nobody else
    token = stack.token("window_clerk", "341200", window_id=window, sub="guesser")
    guesses = [factories.resident_id() for _ in range(6)]
    async with stack.client("delivery", token) as delivery:
        answers = [
            await delivery.post(
                "/v1/deliveries/TB000000000000/handover", json={"recipient_id_number": guess}
            )
            for guess in guesses
        ]
    assert [a.status_code for a in answers] == [404] * 5 + [429]
    assert answers[-1].json()["error"]["code"] == "too_many_failed_handovers"

    engine = create_async_engine(stack.settings.service_database_url("delivery"))
    async with engine.connect() as connection:
        recorded = await connection.scalar(
            select(func.count())
            .select_from(FailedHandoverRow)
            .where(FailedHandoverRow.window_id == window)
        )
    await engine.dispose()
    assert recorded == 5  # the refused ones; the stopped one never reached the queue
