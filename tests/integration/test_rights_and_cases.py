"""Trust agreements as windows feel them, and the rules approvers and clerks work under."""

from __future__ import annotations

from typing import Any

import pytest

from shared.reference.localities import is_within
from tests import factories
from tests.harness import Stack, eventually
from tooling.journey import Journey, household_application

pytestmark = pytest.mark.integration


async def accepted_application(stack: Stack) -> tuple[Journey, str, dict[str, Any]]:
    trip = stack.journey()
    applicant = factories.applicant("340104")
    response = await trip.submit(household_application(applicant))
    assert response.status_code == 201, response.text
    return trip, response.json()["application_no"], applicant


async def test_granting_an_agreement_opens_a_window_and_revoking_closes_it(stack: Stack) -> None:
    wuhu = stack.journey(window_id="W340200-01", locality="340200")
    body = household_application(factories.applicant("340104"))
    assert (await wuhu.submit(body)).status_code == 403

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
        agreement = granted.json()
        # Intake learns of the grant from routing's rules topic: moments later, not at once.
        await replica_has(stack, agreement["id"], revoked=False)
        assert (await wuhu.submit(body)).status_code == 201

        assert (await routing.delete(f"/v1/agreements/{agreement['id']}")).status_code == 200
        listed = (await routing.get("/v1/agreements")).json()["agreements"]
        assert next(a for a in listed if a["id"] == agreement["id"])["revoked_at"] is not None
    await replica_has(stack, agreement["id"], revoked=True)
    again = await wuhu.submit(household_application(factories.applicant("340104")))
    assert again.status_code == 403
    assert again.json()["error"]["code"] == "no_accept_right"


async def replica_has(stack: Stack, agreement_id: str, *, revoked: bool) -> None:
    """Wait until intake's replica of routing's rules holds the agreement in that state."""
    book = stack.services["intake"].app.state.replica.book

    async def arrived() -> bool:
        held = book.agreements.get(agreement_id)
        return held is not None and (held.revoked_at is not None) == revoked

    await eventually(arrived, within=10)


async def test_only_the_grantor_administration_may_grant(stack: Stack) -> None:
    fuyang_admin = stack.token("admin", "341200")
    clerk = stack.token("window_clerk", "341200", "W341200-01")
    agreement = {
        "grantor_locality": "340100",
        "grantee_locality": "*",
        "item_codes": ["*"],
        "rights": ["accept"],
    }
    async with stack.client("routing", fuyang_admin) as routing:
        response = await routing.post("/v1/agreements", json=agreement)
    assert response.status_code == 403 and response.json()["error"]["code"] == "not_grantor"
    async with stack.client("routing", clerk) as routing:
        response = await routing.post("/v1/agreements", json=agreement)
    assert response.status_code == 403 and response.json()["error"]["code"] == "forbidden_role"


async def test_a_window_cannot_ask_routing_about_another_localitys_rights(stack: Stack) -> None:
    clerk = stack.token("window_clerk", "340200", "W340200-01")
    async with stack.client("routing", clerk) as routing:
        response = await routing.post(
            "/v1/jurisdiction/resolve",
            json={
                "item_code": "GA-HJ-001",
                "applicant_locality": "340104",
                "receiving_locality": "341200",
            },
        )
    assert response.status_code == 403


async def test_a_claimed_case_is_held_and_must_be_claimed_before_a_decision(stack: Stack) -> None:
    trip, number, _ = await accepted_application(stack)
    await trip.wait_for_case(number, "340100")
    first = stack.token("approver", "340100", sub="approver-a")
    second = stack.token("approver", "340100", sub="approver-b")
    async with stack.client("approval", second) as b:
        early = await b.post(f"/v1/cases/{number}/decision", json={"decision": "approve"})
        assert early.status_code == 409 and early.json()["error"]["code"] == "not_claimed"
    async with stack.client("approval", first) as a:
        assert (await a.post(f"/v1/cases/{number}/claim")).status_code == 200
    async with stack.client("approval", second) as b:
        taken = await b.post(f"/v1/cases/{number}/claim")
        assert taken.status_code == 409 and taken.json()["error"]["code"] == "case_claimed"
    async with stack.client("approval", first) as a:
        no_reason = await a.post(f"/v1/cases/{number}/decision", json={"decision": "reject"})
        assert no_reason.status_code == 422
        rejected = await a.post(
            f"/v1/cases/{number}/decision",
            json={"decision": "reject", "reason": "迁入地不符合落户条件"},
        )
        assert rejected.status_code == 200 and rejected.json()["status"] == "rejected"
        again = await a.post(f"/v1/cases/{number}/decision", json={"decision": "approve"})
        assert again.status_code == 409 and again.json()["error"]["code"] == "case_closed"
    final = await trip.wait_for_status(number, "rejected")
    assert final["status"] == "rejected"
    assert final["timeline"][-1]["note"] == "迁入地不符合落户条件"


async def test_approvers_of_another_locality_do_not_see_the_case(stack: Stack) -> None:
    trip, number, _ = await accepted_application(stack)
    await trip.wait_for_case(number, "340100")
    async with stack.client("approval", stack.token("approver", "340100")) as hefei:
        assert (await hefei.get(f"/v1/cases/{number}")).status_code == 200
    async with stack.client("approval", stack.token("approver", "340200")) as wuhu:
        assert (await wuhu.get(f"/v1/cases/{number}")).status_code == 404
        assert (await wuhu.post(f"/v1/cases/{number}/claim")).status_code == 404
        listed = await wuhu.get("/v1/cases")
    assert listed.status_code == 200, listed.text
    # Wuhu's list answers, without Hefei's case or any other locality's: only 芜湖's own and its
    # counties' (another test may have left one there, e.g. 镜湖区's).
    assert number not in {case["application_no"] for case in listed.json()["cases"]}
    assert all(is_within(case["locality"], "340200") for case in listed.json()["cases"])


async def test_a_certificate_is_handed_over_once_and_only_at_its_window(stack: Stack) -> None:
    trip, number, applicant = await accepted_application(stack)
    await trip.approve(number, "340100")
    await trip.wait_in_print_queue(number)
    other_window = stack.journey(window_id="W341200-02")
    elsewhere = await other_window.hand_over(number, applicant["id_number"])
    assert elsewhere.status_code == 404
    assert (await trip.hand_over(number, applicant["id_number"])).status_code == 200
    twice = await trip.hand_over(number, applicant["id_number"])
    assert twice.status_code == 409 and twice.json()["error"]["code"] == "already_delivered"


async def test_every_service_reports_ready_and_serves_its_openapi(stack: Stack) -> None:
    for name in ("intake", "routing", "approval", "delivery"):
        async with stack.client(name) as client:
            ready = await client.get("/readyz")
            assert ready.status_code == 200, ready.text
            checks = ready.json()["checks"]
            assert {checks[key] for key in ("database", "kafka", "workers")} == {"ok"}
            assert (await client.get("/openapi.json")).json()["info"]["title"].startswith("Tongban")
    async with stack.client("intake") as intake:
        # Intake is ready only once it follows routing's rules.
        assert (await intake.get("/readyz")).json()["checks"]["routing_rules"] == "ok"


async def test_the_timeline_is_not_visible_to_unrelated_localities(stack: Stack) -> None:
    _, number, _ = await accepted_application(stack)
    async with stack.client("intake", stack.token("window_clerk", "340200", "W340200-01")) as wuhu:
        assert (await wuhu.get(f"/v1/applications/{number}")).status_code == 404
    async with stack.client("intake", stack.token("operator", "340000")) as province:
        assert (await province.get(f"/v1/applications/{number}")).status_code == 200
