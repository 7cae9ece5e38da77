"""One clock for people: every timestamp in intake's, routing's, approval's and delivery's
answers is ISO 8601 with the +08:00 offset, whichever zone it was stored or produced in (the
databases keep UTC). An answer given at once and the same moment read back from a database say
the same text."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests import factories
from tests.harness import Stack
from tooling.journey import HOUSEHOLD_REGISTER_SCAN, household_application, scan_digest

pytestmark = pytest.mark.integration

HEFEI = "340100"
# A string that starts like a date and a time is a timestamp, and has this one form.
LOOKS_LIKE_A_MOMENT = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")
LEDGER_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")
CHINA_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?\+08:00$")


def moments(answer: Any, where: str = "") -> Iterator[tuple[str, str]]:
    """(path, text) of every timestamp anywhere in a JSON answer."""
    if isinstance(answer, dict):
        for key, value in answer.items():
            yield from moments(value, f"{where}.{key}")
    elif isinstance(answer, list):
        for index, value in enumerate(answer):
            yield from moments(value, f"{where}[{index}]")
    elif isinstance(answer, str) and LOOKS_LIKE_A_MOMENT.match(answer):
        yield where, answer


def china_times(answer: Any, *required: str, signed: tuple[str, ...] = ()) -> dict[str, str]:
    """Every timestamp of `answer` by path, after checking each is in China time and that the
    `required` fields (paths such as `.accepted_at`) are among them. The `signed` ones are the
    audit ledger's, whose signature covers their exact UTC text (contracts/audit-ledger.md)."""
    found = dict(moments(answer))
    for path in signed:
        text = found.pop(path, None)
        assert text is None or LEDGER_TIME.match(text), (path, answer)
    wrong = {path: text for path, text in found.items() if not CHINA_TIME.match(text)}
    assert not wrong, f"timestamps not in ISO 8601 with +08:00: {wrong}"
    missing = [path for path in required if path not in found]
    assert not missing, f"no timestamp at {missing} in {answer}"
    return found


async def test_intake_approval_and_delivery_answer_every_timestamp_in_china_time(
    stack: Stack,
) -> None:
    trip = stack.journey()
    applicant = factories.applicant()
    submitted = await trip.submit(household_application(applicant))
    assert submitted.status_code == 201, submitted.text
    receipt = submitted.json()
    china_times(receipt, ".accepted_at")
    number = receipt["application_no"]

    # Intake's one-time notice, given at once and read again from the database.
    incomplete = await trip.submit(household_application(factories.applicant()) | {"materials": []})
    assert incomplete.status_code == 422, incomplete.text
    async with stack.client("intake", trip.clerk_token) as intake:
        notice = await intake.get(
            f"/v1/notices/{incomplete.json()['error']['details']['notice_no']}"
        )
        assert notice.status_code == 200, notice.text
        china_times(notice.json(), ".issued_at")

    # Approval: the case, a supplement asked for (补正) and handed in, the decision.
    await trip.wait_for_case(number, HEFEI)
    await trip.claim(number, HEFEI)
    asked = await trip.request_supplement(number, HEFEI, ["M02"], "请补交户口簿复印件")
    china_times(asked)
    handed_in = await trip.hand_in_supplement(
        number, [{"material_code": "M02", "sha256": scan_digest(HOUSEHOLD_REGISTER_SCAN)}]
    )
    china_times(handed_in, ".handed_in_at")
    await trip.wait_for_case_status(number, HEFEI, "in_review")
    decided = await trip.approve(number, HEFEI)
    china_times(decided, ".decided_at")
    async with stack.client("approval", trip.approver_token(HEFEI)) as approval:
        case = await approval.get(f"/v1/cases/{number}")
        china_times(case.json(), ".decided_at", ".application.accepted_at")
        certificate = await approval.get(f"/v1/certificates/{decided['certificate_no']}")
        china_times(certificate.json())
        seals = await approval.get("/v1/seals")
        china_times(seals.json(), ".seals[0].valid_from")

    # Delivery: the print queue and the hand-over.
    job = await trip.wait_in_print_queue(number)
    china_times(job, ".queued_at")
    handed = await trip.hand_over(number, applicant["id_number"])
    assert handed.status_code == 200, handed.text
    china_times(handed.json(), ".delivered_at")

    # Intake's timeline (read from its database, kept in UTC) and the rating.
    final = await trip.wait_for_status(number, "delivered")
    timeline = china_times(final, ".timeline[0].at")
    # The receipt's moment and the timeline's, read back, are one text.
    assert timeline[".timeline[0].at"] == receipt["accepted_at"]
    async with stack.client("intake", trip.clerk_token) as intake:
        rated = await intake.post(f"/v1/applications/{number}/evaluation", json={"score": 5})
        assert rated.status_code == 201, rated.text
        china_times(rated.json(), ".evaluated_at")
        versions = await intake.get("/v1/catalog/versions")
        china_times(versions.json())
        # The trust list's keys (every service answers the same list).
        keys = await intake.get("/v1/keys")
        china_times(keys.json(), ".keys[0].valid_from")

    # Routing (operators): trust agreements and the ledger's last verification.
    async with stack.client("routing", stack.token("operator", "340000")) as routing:
        agreements = await routing.get("/v1/agreements")
        china_times(agreements.json(), ".agreements[0].created_at")
        verification = await routing.get("/v1/audit/verification")
        if verification.status_code == 200:  # none before routing's first verification
            china_times(verification.json(), ".verified_at", signed=(".checkpoint.at",))
