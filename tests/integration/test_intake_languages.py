"""What the applicant and the clerk read from intake, in their language (issue 17): Chinese by
default, English with `Accept-Language: en`, from the same stored facts; codes never change.
Through the public APIs of the running stack on the real broker and database."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from shared.reference.catalog import get_item
from tests import factories
from tests.harness import Stack
from tooling.journey import HOUSEHOLD_REGISTER_SCAN, Journey, household_application, scan_digest

pytestmark = pytest.mark.integration

HEFEI = "340100"


def item_name(item_code: str) -> str:
    item = get_item(item_code)
    assert item is not None
    return item.name


ITEM_NAME = item_name("GA-HJ-001")
ENGLISH = {"Accept-Language": "en"}


async def read(stack: Stack, trip: Journey, path: str, headers: dict[str, str]) -> httpx.Response:
    async with stack.client("intake", trip.clerk_token) as intake:
        return await intake.get(path, headers=headers)


def notes_by_status(application: dict[str, Any]) -> dict[str, str]:
    """The first note of each status on the timeline."""
    notes: dict[str, str] = {}
    for entry in application["timeline"]:
        notes.setdefault(entry["status"], entry["note"])
    return notes


async def test_the_timeline_reads_in_chinese_by_default_and_in_english_on_request(
    stack: Stack,
) -> None:
    trip = stack.journey()
    applicant = factories.applicant()
    answer = await trip.submit(household_application(applicant))
    assert answer.status_code == 201, answer.text
    number = answer.json()["application_no"]

    # 补正 of the deferred household register copy, handed in at the receiving window.
    await trip.wait_for_case(number, HEFEI)
    await trip.claim(number, HEFEI)
    await trip.request_supplement(number, HEFEI, ["M02"], "请补交清晰的居民户口簿复印件")
    await trip.wait_for_status(number, "supplement_requested")
    handed_in = await trip.hand_in_supplement(
        number, [{"material_code": "M02", "sha256": scan_digest(HOUSEHOLD_REGISTER_SCAN)}]
    )
    # 补正材料已提交: the answer no longer says the applicant is being asked for materials.
    assert handed_in["status"] == "supplement_submitted"
    await trip.wait_for_case_status(number, HEFEI, "in_review")
    await trip.approve(number, HEFEI)
    await trip.wait_in_print_queue(number)
    handed_over = await trip.hand_over(number, applicant["id_number"])
    assert handed_over.status_code == 200, handed_over.text
    await trip.wait_for_status(number, "delivered")

    chinese = await read(stack, trip, f"/v1/applications/{number}", {})
    assert chinese.status_code == 200, chinese.text
    assert chinese.headers["Content-Language"] == "zh-CN"
    english = await read(stack, trip, f"/v1/applications/{number}", ENGLISH)
    assert english.headers["Content-Language"] == "en"

    # One timeline, two languages: the same entries, statuses and localities.
    strip = [{k: v for k, v in e.items() if k != "note"} for e in chinese.json()["timeline"]]
    assert strip == [
        {k: v for k, v in e.items() if k != "note"} for e in english.json()["timeline"]
    ]
    in_chinese, in_english = notes_by_status(chinese.json()), notes_by_status(english.json())
    # Windows, localities (合肥市) and materials (by the catalog's name) are named.
    assert {status: in_chinese[status] for status in _SHOWN} == {
        "accepted": "已在 W341200-01 窗口受理",
        "routed": "已分送合肥市公安局审批",
        "supplement_requested": "要求补正材料：居民户口簿复印件。请补交清晰的居民户口簿复印件",
        "supplement_submitted": "已在 W341200-01 窗口提交材料：居民户口簿复印件",
        "delivered": "已在窗口送达申请人",
    }
    assert {status: in_english[status] for status in _SHOWN} == {
        "accepted": "Accepted at window W341200-01",
        "routed": "Sent to 合肥市公安局",
        "supplement_requested": "Supplement requested (补正): 居民户口簿复印件. "
        "请补交清晰的居民户口簿复印件",
        "supplement_submitted": "Materials 居民户口簿复印件 handed in at window W341200-01",
        "delivered": "Delivered (window, to the applicant)",
    }
    # Review resumed after the hand-in; the application went on to its end.
    statuses = [entry["status"] for entry in chinese.json()["timeline"]]
    assert statuses.index("supplement_submitted") < statuses.index("approved")
    assert chinese.json()["status"] == english.json()["status"] == "delivered"


_SHOWN = ("accepted", "routed", "supplement_requested", "supplement_submitted", "delivered")


async def test_the_one_time_notice_lists_its_problems_in_chinese_and_again_in_english(
    stack: Stack,
) -> None:
    trip = stack.journey()
    body = household_application(factories.applicant())
    body["materials"][0]["original_verified"] = False  # the ID card's original unchecked
    body["commitments"] = []  # and no kinship proof, nor a commitment instead

    answer = await trip.submit(body)
    assert answer.status_code == 422, answer.text
    assert answer.headers["Content-Language"] == "zh-CN"
    error = answer.json()["error"]
    assert error["code"] == "incomplete_application"
    assert error["message"] == f"{ITEM_NAME}的申请材料不齐全，所有问题一次性告知如下。"
    chinese = {(p["material_code"], p["code"]): p["message"] for p in error["details"]["problems"]}
    assert chinese == {
        ("M01", "original_not_verified"): "居民身份证须在窗口核验原件。",
        ("M03", "material_missing"): "须提交亲属关系证明。",
    }

    # The notice read again by its number: in English on request, in Chinese by default.
    path = f"/v1/notices/{error['details']['notice_no']}"
    english = await read(stack, trip, path, ENGLISH)
    assert english.status_code == 200, english.text
    assert {(p["material_code"], p["code"]): p["message"] for p in english.json()["problems"]} == {
        (
            "M01",
            "original_not_verified",
        ): "The original of 居民身份证 must be checked at the window.",
        ("M03", "material_missing"): "亲属关系证明 is required.",
    }
    again = await read(stack, trip, path, {})
    assert again.json()["problems"] == error["details"]["problems"]

    # Handed in asking for English, the notice is answered in English at once.
    async with stack.client("intake", trip.clerk_token) as intake:
        asked = await intake.post(
            "/v1/applications",
            json=body,
            headers={**ENGLISH, "Idempotency-Key": str(uuid.uuid4())},
        )
    assert asked.status_code == 422, asked.text
    assert asked.json()["error"]["message"] == (
        f"The application for {ITEM_NAME} is incomplete: every problem is listed."
    )


async def test_an_error_says_its_message_in_the_readers_language_under_the_same_code(
    stack: Stack,
) -> None:
    trip = stack.journey()
    number = "TB341200" + "20250101" + "999999"
    chinese = await read(stack, trip, f"/v1/applications/{number}", {})
    english = await read(stack, trip, f"/v1/applications/{number}", ENGLISH)
    assert chinese.status_code == english.status_code == 404
    assert (
        chinese.json()["error"]["code"]
        == english.json()["error"]["code"]
        == ("application_not_found")
    )
    assert chinese.json()["error"]["message"] == f"未找到办件 {number}。"
    assert english.json()["error"]["message"] == f"No application {number}."
