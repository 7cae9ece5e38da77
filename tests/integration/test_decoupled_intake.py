"""Intake decides from its own replica of routing's rules: it accepts while routing is down, and
what the replica's lag hides is caught by routing and shown on the timeline."""

from __future__ import annotations

import pytest

from services.intake.rules_replica import RulesReplica
from services.routing.main import create_app as create_routing
from tests import factories
from tests.harness import Stack, eventually
from tooling.journey import household_application

pytestmark = pytest.mark.integration


async def test_intake_accepts_while_routing_is_stopped_and_routing_catches_up_on_return(
    stack: Stack,
) -> None:
    trip = stack.journey()
    await stack.stop_service("routing")
    try:
        numbers = []
        for _ in range(2):
            response = await trip.submit(household_application(factories.applicant()))
            assert response.status_code == 201, response.text
            numbers.append(response.json()["application_no"])
        assert {(await trip.application(n))["status"] for n in numbers} == {"accepted"}
    finally:
        await stack.start("routing", lambda _: create_routing(stack.settings, stack.spans))
    for number in numbers:
        routed = await trip.wait_for_status(number, "routed")
        assert routed["competent_locality"] == "340100"
        assert [e["status"] for e in routed["timeline"]].count("routed") == 1


async def test_a_right_revoked_inside_the_replica_lag_makes_the_application_unroutable(
    stack: Stack,
) -> None:
    replica: RulesReplica = stack.services["intake"].app.state.replica
    wuhu = stack.journey(window_id="W340200-07", locality="340200")
    admin = stack.token("admin", "340100", sub="hefei-admin")
    async with stack.client("routing", admin) as routing:
        granted = await routing.post(
            "/v1/agreements",
            json={
                "grantor_locality": "340100",
                "grantee_locality": "340200",
                "item_codes": ["GA-HJ-001"],
                "rights": ["accept", "verify_original", "deliver"],
            },
        )
        assert granted.status_code == 201, granted.text
        agreement_id = granted.json()["id"]

        async def granted_in_replica() -> bool:
            return agreement_id in replica.book.agreements

        await eventually(granted_in_replica, within=10)
        # The replica falls behind (as if the broker were slow to intake); meanwhile the grantor
        # revokes, and a window still believing in its right accepts an application.
        await replica.stop()
        try:
            revoked = await routing.delete(f"/v1/agreements/{agreement_id}")
            assert revoked.status_code == 200
            accepted = await wuhu.submit(household_application(factories.applicant()))
            assert accepted.status_code == 201, accepted.text
            number = accepted.json()["application_no"]
        finally:
            await replica.start()

    # Routing judged the right as it stood at acceptance: not silently routed, not lost.
    unroutable = await wuhu.wait_for_status(number, "unroutable")
    assert unroutable["status"] == "unroutable"
    note = next(e["note"] for e in unroutable["timeline"] if e["status"] == "unroutable")
    assert "right_revoked" in note
    async with stack.client("approval", stack.token("approver", "340100")) as approval:
        assert (await approval.get(f"/v1/cases/{number}")).status_code == 404
    # Caught up again, intake refuses the next one itself.
    again = await wuhu.submit(household_application(factories.applicant()))
    assert again.status_code == 403
