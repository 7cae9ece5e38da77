"""一件事一次办, one result: 新生儿出生 for a 合肥 (蜀山区) family handed in once at a 阜阳 window
(pickup at that window), across three departments of two localities, all approved. One receipt;
the registration released by the birth certificate with no upload; 医保参保 (蜀山区) and 社会保障卡
(合肥市) in review in parallel; then one print job and one hand-over at the window for the four
certificates. The bundle's timeline is written to test-artifacts/bundles/timeline.txt."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests import factories
from tests.harness import Stack
from tooling.bundle_journey import (
    FORM,
    ID_CARD,
    bundle_state,
    bundle_timeline,
    newborn_bundle,
    released,
    submit_bundle,
)
from tooling.journey import Journey, poll_until

pytestmark = pytest.mark.integration

SHUSHAN, HEFEI = "340104", "340100"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "bundles"


def timeline_text(timeline: dict[str, Any]) -> str:
    lines = [
        f"{timeline['bundle_no']} {timeline['name']}: {timeline['status']}, "
        f"promised by {timeline['promised_date']}",
        "",
        "department progress and clock:",
    ]
    for m in timeline["members"]:
        lines.append(
            f"  {m['item_code']} {m['item_name']} / {m['department']} ({m['competent_locality']}): "
            f"{m['status']}, clock {m['clock']}, promised {m['promised_date']}"
        )
    lines += ["", "steps:"]
    for s in timeline["steps"]:
        lines.append(f"  {s['at']}  {s['item_code']:<11} {s['status']:<17} {s['note']}")
    return "\n".join(lines) + "\n"


async def all_approved(
    stack: Stack, trip: Journey, applicant: dict[str, Any]
) -> tuple[str, dict[str, str]]:
    """新生儿出生 handed in for `applicant` (pickup at the window) and every member approved:
    the bundle's number and its children's, once the bundle is complete."""
    bundle_no, numbers = await submit_newborn(trip, applicant)
    assert len(numbers) == 4
    await approve_required(trip, bundle_no, numbers)
    return bundle_no, numbers


async def submit_newborn(
    trip: Journey, applicant: dict[str, Any], *extra: dict[str, Any]
) -> tuple[str, dict[str, str]]:
    """One receipt: the bundle's number and its children's."""
    body = newborn_bundle(applicant, factories.resident_id(SHUSHAN))
    body["delivery"] = {"method": "window_pickup"}
    body["members"] += list(extra)
    response = await submit_bundle(trip, body)
    assert response.status_code == 201, response.text
    receipt = response.json()
    numbers = {c["item_code"]: c["application_no"] for c in receipt["children"]}
    return receipt["bundle_no"], numbers


async def approve_required(trip: Journey, bundle_no: str, numbers: dict[str, str]) -> None:
    """The four required members approved in their order; the bundle then completes."""
    # The birth certificate (卫生健康委员会, 蜀山区) releases the registration (公安局), cited.
    await trip.approve(numbers["WJ-CS-001"], SHUSHAN)
    await released(trip, bundle_no, "GA-HJ-003")
    registration = await trip.wait_for_status(numbers["GA-HJ-003"], "in_review")
    assert [c["item_code"] for c in registration["certificates"]] == ["WJ-CS-001"]

    # The household register releases 医保 (医疗保障局, 蜀山区) and 社保卡 (人社局, 合肥市): in
    # review at the same time, each with its own clock.
    await trip.approve(numbers["GA-HJ-003"], SHUSHAN)
    await released(trip, bundle_no, "YL-CB-001", "SB-SBK-002")
    await trip.wait_for_case(numbers["YL-CB-001"], SHUSHAN)
    await trip.wait_for_case(numbers["SB-SBK-002"], HEFEI)
    during = await bundle_timeline(trip, bundle_no)
    clocks = {m["item_code"]: m["clock"] for m in during["members"]}
    assert clocks["YL-CB-001"] == clocks["SB-SBK-002"] == "running"
    assert {m["competent_locality"] for m in during["members"]} == {SHUSHAN, HEFEI}

    await trip.approve(numbers["YL-CB-001"], SHUSHAN)
    await trip.approve(numbers["SB-SBK-002"], HEFEI)

    async def completed() -> dict[str, Any] | None:
        state = await bundle_state(trip, bundle_no)
        return state if state["status"] == "completed" else None

    await poll_until(completed, within=60.0, failure="the bundle never completed")


async def test_newborn_all_approved_one_receipt_one_print_job_one_handover(stack: Stack) -> None:
    trip = stack.journey()
    await trip.upload_sample_scans()
    applicant = factories.applicant(SHUSHAN)
    bundle_no, numbers = await all_approved(stack, trip, applicant)

    # One print job at the receiving window, with the four certificates; none of them a job
    # of its own.
    async with trip._client("delivery", trip.clerk_token) as delivery:

        async def ready() -> dict[str, Any] | None:
            queue = (await delivery.get("/v1/bundle-print-queue")).json()["items"]
            return next((job for job in queue if job["bundle_no"] == bundle_no), None)

        job = await poll_until(ready, within=60.0, failure="the bundle never reached the window")
        assert sorted(c["application_no"] for c in job["certificates"]) == sorted(numbers.values())
        singles = (await delivery.get("/v1/print-queue")).json()["items"]
        assert not {j["application_no"] for j in singles} & set(numbers.values())
        alone = await delivery.post(
            f"/v1/deliveries/{numbers['WJ-CS-001']}/handover",
            json={"recipient_id_number": applicant["id_number"]},
        )
        assert alone.status_code == 409 and alone.json()["error"]["code"] == "bundle_member"

        # One hand-over: every certificate delivered at once.
        handed = await delivery.post(
            f"/v1/bundle-deliveries/{bundle_no}/handover",
            json={"recipient_id_number": applicant["id_number"]},
        )
        assert handed.status_code == 200, handed.text
        assert handed.json()["status"] == "delivered"
        assert {c["status"] for c in handed.json()["certificates"]} == {"delivered"}
        again = await delivery.post(
            f"/v1/bundle-deliveries/{bundle_no}/handover",
            json={"recipient_id_number": applicant["id_number"]},
        )
        assert again.status_code == 409
        queue = (await delivery.get("/v1/bundle-print-queue")).json()["items"]
        assert bundle_no not in {job["bundle_no"] for job in queue}
    for number in numbers.values():
        await trip.wait_for_status(number, "delivered")

    # One rating (好差评) for the whole bundle, each department's member taking it; a member
    # is not rated on its own.
    async with trip._client("intake", trip.clerk_token) as intake:
        rating = {"score": 5, "comment": "一次办成四件事"}
        alone = await intake.post(
            f"/v1/applications/{numbers['WJ-CS-001']}/evaluation", json=rating
        )
        assert alone.status_code == 409 and alone.json()["error"]["code"] == "rate_the_bundle"
        rated = await intake.post(f"/v1/bundle-applications/{bundle_no}/evaluation", json=rating)
        assert rated.status_code == 201, rated.text
        assert sorted(rated.json()["rated"]) == sorted(numbers.values())
        again = await intake.post(f"/v1/bundle-applications/{bundle_no}/evaluation", json=rating)
        assert again.status_code == 409

    timeline = await bundle_timeline(trip, bundle_no)
    assert {m["status"] for m in timeline["members"]} == {"delivered"}
    assert {m["clock"] for m in timeline["members"]} == {"stopped"}
    assert timeline["supplement_request"] == []
    # The registration started released, the birth certificate cited: no upload.
    [started] = [
        s for s in timeline["steps"] if s["item_code"] == "GA-HJ-003" and s["status"] == "accepted"
    ]
    assert bundle_no in started["note"] and "免于提交" in started["note"]
    text = timeline_text(timeline)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "timeline.txt").write_text(text, encoding="utf-8")
    (ARTIFACTS / "timeline.json").write_text(
        json.dumps(timeline, ensure_ascii=False, indent=2), encoding="utf-8"
    )
    print(text)


# 生育津贴申领 (医疗保障局), an optional member of 新生儿出生 that waits for nothing.
MATERNITY = {
    "item_code": "YL-SY-001",
    "materials": [
        {"material_code": "M01", "sha256": ID_CARD, "original_verified": True},
        {"material_code": "M02", "sha256": FORM},
        {"material_code": "M03", "sha256": FORM},
        {"material_code": "M04", "sha256": FORM},
    ],
}


async def test_an_optional_member_rejected_leaves_the_rest_and_is_left_out_of_the_result(
    stack: Stack,
) -> None:
    trip = stack.journey()
    await trip.upload_sample_scans()
    applicant = factories.applicant(SHUSHAN)
    bundle_no, numbers = await submit_newborn(trip, applicant, MATERNITY)
    maternity = numbers.pop("YL-SY-001")
    deciding = (await trip.wait_for_status(maternity, "in_review"))["competent_locality"]
    await trip.wait_for_case(maternity, deciding)
    async with trip._client("approval", trip.approver_token(deciding)) as approval:
        assert (await approval.post(f"/v1/cases/{maternity}/claim")).status_code == 200
        decided = await approval.post(
            f"/v1/cases/{maternity}/decision",
            json={"decision": "reject", "reason": "未参加职工生育保险"},
        )
        assert decided.status_code == 200, decided.text
    await trip.wait_for_status(maternity, "rejected")

    # The bundle goes on: nothing withdrawn, the birth certificate still in review.
    state = await bundle_state(trip, bundle_no)
    assert state["status"] == "open" and state["rejection"] is None
    assert not any(c["withdrawn"] for c in state["children"])
    assert (await trip.application(numbers["WJ-CS-001"]))["status"] == "in_review"

    await approve_required(trip, bundle_no, numbers)
    # The result: the four approved members' certificates, in one print job.
    async with trip._client("delivery", trip.clerk_token) as delivery:

        async def ready() -> dict[str, Any] | None:
            queue = (await delivery.get("/v1/bundle-print-queue")).json()["items"]
            return next((job for job in queue if job["bundle_no"] == bundle_no), None)

        job = await poll_until(ready, within=60.0, failure="the bundle never reached the window")
    assert sorted(c["application_no"] for c in job["certificates"]) == sorted(numbers.values())
