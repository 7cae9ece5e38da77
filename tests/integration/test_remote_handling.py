"""Remote handling for real (收件转交, 补正, 容缺, 移交, 委托代办, the whole province), through the
public APIs of the running stack on the real broker and database.

The reference application (GA-HJ-001 for a resident of 合肥 蜀山区 at a 阜阳 window) is decided by
合肥 (340100); 马鞍山 (340500) is served by the second approval instance, so a transfer there
crosses instances and databases.
"""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest

from shared import clock
from shared.clock import CHINA_TZ, FixedClock, use_clock
from shared.identity import sample_resident_id
from shared.messaging import events, topics
from shared.workdays import add_working_days
from tests import factories
from tests.harness import Stack, eventually, header, read_topic
from tooling.journey import (
    AUTHORIZATION_SCAN,
    HOUSEHOLD_REGISTER_SCAN,
    ID_CARD_SCAN,
    Journey,
    household_application,
    sample_pdf,
    scan_digest,
)

pytestmark = pytest.mark.integration

HEFEI, FUYANG, WUHU, MAANSHAN = "340100", "341200", "340200", "340500"


def stored_files(stack: Stack) -> set[Path]:
    return {path for path in Path(stack.settings.blob_store_url).rglob("*") if path.is_file()}


async def accepted(trip: Journey, body: dict[str, Any]) -> str:
    answer = await trip.submit(body)
    assert answer.status_code == 201, answer.text
    number: str = answer.json()["application_no"]
    return number


async def claimed_case(stack: Stack, number: str, locality: str = HEFEI) -> str:
    """Wait for the case, claim it as that locality's approver; returns the approver's token."""
    trip = stack.journey()
    await trip.wait_for_case(number, locality)
    token = trip.approver_token(locality)
    async with stack.client("approval", token) as approval:
        assert (await approval.post(f"/v1/cases/{number}/claim")).status_code == 200
    return token


async def case_of(stack: Stack, token: str, number: str, service: str = "approval") -> Any:
    async with stack.client(service, token) as approval:
        response = await approval.get(f"/v1/cases/{number}")
        assert response.status_code == 200, response.text
        return response.json()


def at_ten(day: date) -> datetime:
    return datetime.combine(day, time(10, 0), tzinfo=CHINA_TZ)


# --- scans (收件转交) ---------------------------------------------------------------------------


async def test_a_scan_uploaded_in_fuyang_is_read_byte_identical_by_hefei_and_by_nobody_else(
    stack: Stack,
) -> None:
    trip = stack.journey()
    scan = sample_pdf("ID card of applicant 701, scanned at a Fuyang window")
    stored = await trip.upload_scan(scan)
    assert stored == {
        "sha256": scan_digest(scan),
        "size": len(scan),
        "content_type": "application/pdf",
    }
    body = household_application(factories.applicant())
    body["materials"][0]["sha256"] = stored["sha256"]
    number = await accepted(trip, body)
    token = await claimed_case(stack, number)
    case = await case_of(stack, token, number)
    assert case["application"]["materials"][0]["size"] == len(scan)

    path = f"/v1/cases/{number}/materials/{stored['sha256']}"
    async with stack.client("approval", token) as hefei:
        fetched = await hefei.get(path)
        assert fetched.status_code == 200
        assert fetched.content == scan
        assert fetched.headers["content-type"] == "application/pdf"
        # A scan that is not this case's is not handed out, even to its competent locality.
        unrelated = await trip.upload_scan(sample_pdf("someone else's document 701"))
        other = await hefei.get(f"/v1/cases/{number}/materials/{unrelated['sha256']}")
        assert other.status_code == 404
    wuhu = stack.token("approver", WUHU, sub="approver-wuhu")
    async with stack.client("approval", wuhu) as other_city:
        refused = await other_city.get(path)
        assert refused.status_code == 404
        assert refused.json()["error"]["code"] == "case_not_found"
    # A window clerk is not an approver at all.
    async with stack.client("approval", trip.clerk_token) as clerk:
        assert (await clerk.get(path)).status_code == 403

    # The read is on record, as an event for the audit trail: who read which scan.
    def read_recorded(records: list[Any]) -> bool:
        return any(
            header(r, "ce_type") == events.MaterialRead.event_type
            and header(r, "ce_subject") == number
            for r in records
        )

    records = await read_topic(stack.settings, topics.APPROVAL_EVENTS, until=read_recorded)
    reads = [
        json.loads(r.value)
        for r in records
        if header(r, "ce_type") == events.MaterialRead.event_type
        and header(r, "ce_subject") == number
    ]
    assert [(read["sha256"], read["read_by"]) for read in reads] == [
        (stored["sha256"], f"approver-{HEFEI}")
    ]


async def test_a_wrong_type_or_an_oversized_scan_is_refused_and_nothing_is_stored(
    stack: Stack,
) -> None:
    trip = stack.journey()
    before = stored_files(stack)
    text = b"not a scan, only text that calls itself a PDF"
    limit = stack.settings.max_scan_bytes
    oversized = b"%PDF-1.4\n" + b"0" * (limit - 8)  # one byte over the limit
    async with stack.client("intake", trip.clerk_token) as intake:
        wrong = await intake.post("/v1/materials", files={"file": ("id.pdf", text)})
        assert wrong.status_code == 415
        assert wrong.json()["error"]["code"] == "unsupported_media_type"
        big = await intake.post("/v1/materials", files={"file": ("id.pdf", oversized)})
        assert big.status_code == 413
        assert big.json()["error"]["code"] == "payload_too_large"
        # An approver cannot upload; only a window stores scans.
        approver = {"Authorization": f"Bearer {trip.approver_token(HEFEI)}"}
        not_a_window = await intake.post(
            "/v1/materials", files={"file": ("id.pdf", ID_CARD_SCAN)}, headers=approver
        )
        assert not_a_window.status_code == 403
    assert stored_files(stack) == before

    # Referencing what was refused is a problem of the one-time notice, named by material.
    body = household_application(factories.applicant())
    body["materials"][0]["sha256"] = scan_digest(text)
    notice = await trip.submit(body)
    assert notice.status_code == 422
    problems = notice.json()["error"]["details"]["problems"]
    assert {"material_code": "M01", "code": "scan_not_uploaded"}.items() <= problems[0].items()


# --- supplements (补正) and deferred materials (容缺) ------------------------------------------


async def test_a_supplement_at_another_window_resumes_review_with_the_deadline_moved(
    stack: Stack,
) -> None:
    trip = stack.journey()
    start = at_ten(clock.today() + timedelta(days=1))
    with use_clock(FixedClock(start)) as fixed:
        number = await accepted(trip, household_application(factories.applicant()))
        token = await claimed_case(stack, number)
        opened = await case_of(stack, token, number)
        async with stack.client("approval", token) as hefei:
            asked = await hefei.post(
                f"/v1/cases/{number}/decision",
                json={
                    "decision": "request_supplement",
                    "materials": ["M02"],
                    "reason": "请补交清晰的居民户口簿复印件",
                },
            )
            assert asked.status_code == 200, asked.text
            assert asked.json()["status"] == "supplement_requested"
            # Nothing can be decided while the applicant is asked for materials.
            early = await hefei.post(f"/v1/cases/{number}/decision", json={"decision": "approve"})
            assert early.status_code == 409
        waiting = await trip.wait_for_status(number, "supplement_requested")
        assert waiting["status"] == "supplement_requested"
        assert waiting["requested_materials"] == ["M02"]

        # Three working days pass before the applicant comes back.
        paused_until = add_working_days(start.date(), 3)
        fixed.advance(at_ten(paused_until) - fixed.now())

        wuhu_window = stack.journey(window_id="W340200-01", locality=WUHU)
        hefei_window = stack.journey(window_id="W340104-01", locality="340104")
        supplement = {
            "materials": [{"material_code": "M02", "sha256": scan_digest(HOUSEHOLD_REGISTER_SCAN)}]
        }
        async with stack.client("intake", wuhu_window.clerk_token) as wuhu:
            # 芜湖 holds no notify right for this item from 合肥.
            refused = await wuhu.post(f"/v1/applications/{number}/supplements", json=supplement)
            assert refused.status_code == 403
            assert refused.json()["error"]["code"] == "no_notify_right"
        async with stack.client("intake", hefei_window.clerk_token) as window:
            # Something never asked for, and a scan never uploaded: one notice lists both.
            wrong = await window.post(
                f"/v1/applications/{number}/supplements",
                json={"materials": [{"material_code": "M03", "sha256": "e" * 64}]},
            )
            assert wrong.status_code == 422
            listed = {
                (p["material_code"], p["code"])
                for p in wrong.json()["error"]["details"]["problems"]
            }
            assert listed == {
                ("M03", "not_expected"),
                ("M03", "scan_not_uploaded"),
                ("M02", "material_missing"),
            }
            # The notice is kept though the supplement was refused: read again by its number.
            details = wrong.json()["error"]["details"]
            kept = await window.get(f"/v1/notices/{details['notice_no']}")
            assert kept.status_code == 200, kept.text
            assert kept.json()["problems"] == details["problems"]
            handed_in = await window.post(f"/v1/applications/{number}/supplements", json=supplement)
            assert handed_in.status_code == 201, handed_in.text
            assert handed_in.json()["requested_materials"] == []
            # 补正材料已提交: no longer waiting for the applicant, until review resumes.
            assert handed_in.json()["status"] == "supplement_submitted"
            again = await window.post(f"/v1/applications/{number}/supplements", json=supplement)
            assert again.status_code == 409

        async def resumed() -> Any:
            case = await case_of(stack, token, number)
            return case if case["status"] == "in_review" else None

        case = await eventually(resumed)
        assert isinstance(case, dict)
        assert case["paused_working_days"] == 3
        assert date.fromisoformat(case["deadline"]) == add_working_days(
            date.fromisoformat(opened["deadline"]), 3
        )
        # The competent locality reads the supplemented scan like the others.
        async with stack.client("approval", token) as hefei:
            sha = scan_digest(HOUSEHOLD_REGISTER_SCAN)
            scan = await hefei.get(f"/v1/cases/{number}/materials/{sha}")
            assert scan.status_code == 200 and scan.content == HOUSEHOLD_REGISTER_SCAN

        # Intake learns of the resumption from approval's event, a moment after approval: wait
        # for that entry (the timeline had `in_review` already, from before the request).
        async def resumed_at_intake() -> Any:
            current = await trip.application(number)
            notes = [entry["note"] for entry in current["timeline"]]
            return current if any("恢复审查" in note for note in notes) else None

        application = await eventually(resumed_at_intake)
        assert isinstance(application, dict)
        statuses = [entry["status"] for entry in application["timeline"]]
        assert statuses.index("supplement_requested") < len(statuses) - 1
        assert "supplement_submitted" in statuses
        assert application["status"] == "in_review"
        handed_in_entry = next(
            e for e in application["timeline"] if e["status"] == "supplement_submitted"
        )
        assert handed_in_entry["note"] == "已在 W340104-01 窗口提交材料：居民户口簿复印件"


async def test_deferred_materials_are_reminded_and_block_approval_without_an_override(
    stack: Stack,
) -> None:
    trip = stack.journey()
    start = at_ten(clock.today() + timedelta(days=1))
    with use_clock(FixedClock(start)) as fixed:
        answer = await trip.submit(household_application(factories.applicant()))
        assert answer.status_code == 201, answer.text
        number = answer.json()["application_no"]
        assert answer.json()["deferred"] == ["M02"]
        due_on = date.fromisoformat(answer.json()["deferred_due_on"])
        await trip.wait_for_case(number, HEFEI)

        # The due day passes with M02 still outstanding: the applicant is reminded, once.
        fixed.advance(at_ten(due_on + timedelta(days=1)) - fixed.now())
        token = await claimed_case(stack, number)

        async def reminded() -> Any:
            application = await trip.application(number)
            notes = [e["note"] for e in application["timeline"] if "提醒" in e["note"]]
            return notes or None

        notes = await eventually(reminded)
        assert notes == [f"提醒：容缺材料 居民户口簿复印件 须于 {due_on} 前补交"]

        async with stack.client("approval", token) as hefei:
            blocked = await hefei.post(f"/v1/cases/{number}/decision", json={"decision": "approve"})
            assert blocked.status_code == 409
            assert blocked.json()["error"]["code"] == "deferred_outstanding"
            assert blocked.json()["error"]["details"] == {"materials": ["M02"]}

        # The receiving window takes the deferred material; then approval needs no override.
        supplement = {
            "materials": [{"material_code": "M02", "sha256": scan_digest(HOUSEHOLD_REGISTER_SCAN)}]
        }
        async with stack.client("intake", trip.clerk_token) as window:
            handed_in = await window.post(f"/v1/applications/{number}/supplements", json=supplement)
            assert handed_in.status_code == 201, handed_in.text
            assert handed_in.json()["deferred"] == []

        async def nothing_outstanding() -> Any:
            case = await case_of(stack, token, number)
            return case if case["deferred"] == [] else None

        await eventually(nothing_outstanding)
        async with stack.client("approval", token) as hefei:
            approved = await hefei.post(
                f"/v1/cases/{number}/decision", json={"decision": "approve"}
            )
            assert approved.status_code == 200, approved.text
            assert approved.json()["override_reason"] is None
    await trip.wait_for_status(number, "approved")


# --- transfer (移交) -------------------------------------------------------------------------


async def test_a_case_transferred_to_maanshan_is_rerouted_and_decided_there(stack: Stack) -> None:
    trip = stack.journey()
    number = await accepted(trip, household_application(factories.applicant()))
    await trip.wait_for_case(number, HEFEI)
    token = trip.approver_token(HEFEI)
    move = {"to_locality": MAANSHAN, "reason": "申请人户籍已迁至马鞍山市"}
    async with stack.client("approval", token) as hefei:
        unclaimed = await hefei.post(f"/v1/cases/{number}/transfer", json=move)
        assert unclaimed.status_code == 409
        assert (await hefei.post(f"/v1/cases/{number}/claim")).status_code == 200
        nowhere = await hefei.post(
            f"/v1/cases/{number}/transfer", json={"to_locality": "349900", "reason": "?"}
        )
        assert nowhere.status_code == 422
        moved = await hefei.post(f"/v1/cases/{number}/transfer", json=move)
        assert moved.status_code == 200, moved.text
        assert moved.json()["status"] == "transferred"
        assert moved.json()["transferred_to"] == MAANSHAN
        # 合肥 no longer acts on it, nor reads it: the applicant's data is 马鞍山's now.
        late = await hefei.post(f"/v1/cases/{number}/claim")
        assert late.status_code == 404
        assert (await hefei.get(f"/v1/cases/{number}")).status_code == 404
        scan = await hefei.get(f"/v1/cases/{number}/materials/{scan_digest(ID_CARD_SCAN)}")
        assert scan.status_code == 404

    # Routing hands it to 马鞍山, whose approval (the other instance) opens the case.
    case = await trip.wait_for_case(number, MAANSHAN, service="approval_b")
    assert case["locality"] == MAANSHAN and case["status"] == "in_review"
    application = await trip.wait_for_status(number, "in_review")
    assert application["competent_locality"] == MAANSHAN
    transfer_notes = [e for e in application["timeline"] if "移交" in e["note"]]
    assert len(transfer_notes) == 1
    assert transfer_notes[0]["note"].startswith("已由合肥市移交马鞍山市")
    assert "申请人户籍已迁至马鞍山市" in transfer_notes[0]["note"]

    decided = await trip.approve(number, MAANSHAN, service="approval_b")
    assert decided["status"] == "approved"
    done = await trip.wait_for_status(number, "approved")
    assert [e["locality"] for e in done["timeline"] if e["status"] == "approved"] == [MAANSHAN]


# --- agents (委托代办) -------------------------------------------------------------------------


async def test_the_recorded_agent_collects_the_certificate_with_their_own_id(
    stack: Stack,
) -> None:
    trip = stack.journey()
    applicant = factories.applicant()
    agent_id = sample_resident_id("341202", date(1985, 3, 2), 9)
    body = household_application(applicant)
    body["agent"] = {
        "name": "李代办",
        "id_type": "resident_id",
        "id_number": agent_id,
        "phone": "13900000741",
        "authorization_sha256": scan_digest(AUTHORIZATION_SCAN),
    }
    number = await accepted(trip, body)
    assert (await trip.application(number))["agent_name_masked"] == "李**"
    await trip.approve(number, HEFEI)
    job = await trip.wait_in_print_queue(number)
    assert job["agent_name_masked"] == "李**"

    stranger = sample_resident_id("341202", date(1979, 8, 8), 3)
    refused = await trip.hand_over(number, stranger)
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "recipient_mismatch"
    handed = await trip.hand_over(number, agent_id)
    assert handed.status_code == 200, handed.text
    assert handed.json()["collected_by"] == "agent"
    delivered = await trip.wait_for_status(number, "delivered")
    assert delivered["timeline"][-1]["note"] == "已在窗口送达代办人"


# --- the whole province ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("item_code", "competent"),
    [("GA-SFZ-001", "340202"), ("SB-SBK-001", WUHU)],
    ids=["county-level-item", "city-level-item"],
)
async def test_a_resident_of_jinghu_district_is_routed_by_the_items_rule(
    stack: Stack, item_code: str, competent: str
) -> None:
    """镜湖区 (340202, 芜湖): identity cards are issued by the county, social security cards by
    the city. The 阜阳 window accepts both under the province's default agreement."""
    trip = stack.journey()
    applicant = factories.applicant("340202")
    body = {
        "item_code": item_code,
        "applicant": applicant,
        "materials": [
            {"material_code": "M01", "sha256": scan_digest(ID_CARD_SCAN), "original_verified": True}
        ]
        + (
            [{"material_code": "M02", "sha256": scan_digest(HOUSEHOLD_REGISTER_SCAN)}]
            if item_code == "GA-SFZ-001"
            else []
        ),
        "delivery": {"method": "window_pickup"},
    }
    answer = await trip.submit(body)
    assert answer.status_code == 201, answer.text
    assert answer.json()["competent_locality"] == competent
    number = answer.json()["application_no"]
    routed = await trip.wait_for_status(number, "in_review")
    assert routed["competent_locality"] == competent
    # 芜湖's approvers see it (a city serves its districts).
    case = await trip.wait_for_case(number, WUHU)
    assert case["locality"] == competent
