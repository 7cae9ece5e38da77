"""视频核验 on approval's case: a 阜阳 window hands in an application whose competent locality is
合肥 and calls 合肥's reviewer (two aiortc peers through the signalling endpoint, recorded by the
server); in the call the reviewer records the original of the ID card (M01) as seen by video.
Approval read the consultation service's event: the case lists the material by its catalog
name, who verified it and when, in which consultation, and, once the call ended, the call's
recording (its blob and SM3 digest, as the consultation service holds them), with a sentence
in Chinese. The same event delivered again changes nothing (the consumer's inbox).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer, ConsumerRecord

from shared.messaging.topics import CONSULTATION_EVENTS
from tests.consultation import (
    HEFEI,
    WINDOW,
    clerk_token,
    connect,
    consultation,
    open_consultation,
    receive,
    reviewer_token,
)
from tests.harness import Stack, header, read_topic
from tests.video_call import call
from tooling.journey import household_application, poll_until, sample_applicant

pytestmark = pytest.mark.integration
__all__ = ["consultation"]

VERIFIED = "gov.tongban.consultation.material_verified.v1"
REVIEWER = "approver-hf-01"


async def test_a_material_verified_in_a_call_is_on_approvals_case(
    stack: Stack, consultation: str, producer: AIOKafkaProducer
) -> None:
    journey = stack.journey(*WINDOW)
    applicant = sample_applicant("340104", sequence=int(uuid.uuid4().int % 900) + 100)
    submitted = await journey.submit(household_application(applicant))
    assert submitted.status_code == 201, submitted.text
    application_no = submitted.json()["application_no"]
    approver = stack.client("approval", reviewer_token(stack, HEFEI, sub=REVIEWER))

    async def case(language: str = "zh-CN") -> dict[str, Any] | None:
        answer = await approver.get(
            f"/v1/cases/{application_no}", headers={"Accept-Language": language}
        )
        return answer.json() if answer.status_code == 200 else None

    async with approver:
        before = await poll_until(case, within=30, failure="no case in 合肥")
        assert before["video_verifications"] == []

        # The call: the clerk rings, 合肥's reviewer answers, both see each other.
        opened = await open_consultation(stack, application_no, topic="请核验身份证原件")
        consultation_id = opened["consultation_id"]
        clerk = await connect(consultation, opened["signalling"], clerk_token(stack))
        await receive(clerk, "welcome")
        reviewer = await connect(
            consultation, opened["signalling"], reviewer_token(stack, HEFEI, sub=REVIEWER)
        )
        await receive(reviewer, "welcome")
        media = await call(clerk, reviewer)

        # In the call, the reviewer records the ID card's original as seen.
        async with stack.client("consultation", reviewer_token(stack, sub=REVIEWER)) as http:
            verified = await http.post(
                f"/v1/consultations/{consultation_id}/verifications",
                json={"material_code": "M01", "note": "身份证原件已视频核验，与复印件一致"},
            )
        assert verified.status_code == 201, verified.text
        await asyncio.sleep(2)
        await clerk.send(json.dumps({"type": "hangup"}))
        await clerk.wait_closed()
        await reviewer.wait_closed()
        await media.close()

        # Approval's case shows it, with the call's recording once stored.
        async def verified_and_recorded() -> dict[str, Any] | None:
            shown = await case()
            found = shown["video_verifications"] if shown else []
            return shown if found and found[0]["recording"] else None

        shown = await poll_until(verified_and_recorded, within=45, failure="not on the case")
        (seen,) = shown["video_verifications"]
        assert seen["material_code"] == "M01"
        assert seen["material_name"] == "居民身份证"
        assert seen["note"] == "身份证原件已视频核验，与复印件一致"
        assert (seen["verified_by"], seen["verifier_role"], seen["verifier_locality"]) == (
            REVIEWER,
            "approver",
            HEFEI,
        )
        assert seen["verified_at"] == verified.json()["verified_at"]
        assert (seen["consultation_id"], seen["window_id"]) == (consultation_id, WINDOW[0])
        assert seen["summary"] == (
            f"合肥市的 {REVIEWER} 已在视频会商 {consultation_id} 中视频核验居民身份证原件"
        )
        async with stack.client("consultation", reviewer_token(stack, sub=REVIEWER)) as http:
            recording = (await http.get(f"/v1/consultations/{consultation_id}")).json()["recording"]
        held = {key: recording[key] for key in ("sm3", "blob_sha256", "size_bytes")}
        assert {key: seen["recording"][key] for key in held} == held
        english = await case("en")
        assert english is not None
        assert english["video_verifications"][0]["summary"].startswith(
            "Original of 居民身份证 verified by video by approver-hf-01 of 合肥市"
        )

        # The same event once more, then another verification after it on the same partition
        # (the consultation is the key): when the second shows, the copy was read, and did
        # nothing.
        records = await read_topic(
            stack.settings,
            CONSULTATION_EVENTS,
            until=lambda rs: bool(_verified(rs, consultation_id)),
        )
        (record,) = _verified(records, consultation_id)
        await producer.send_and_wait(
            CONSULTATION_EVENTS,
            value=record.value,
            key=record.key,
            headers=list(record.headers),
        )
        async with stack.client("consultation", reviewer_token(stack, sub=REVIEWER)) as http:
            again = await http.post(
                f"/v1/consultations/{consultation_id}/verifications",
                json={"material_code": "M02", "note": "户口簿原件已视频核验"},
            )
        assert again.status_code == 201, again.text

        async def second() -> dict[str, Any] | None:
            shown = await case()
            codes = [v["material_code"] for v in shown["video_verifications"]] if shown else []
            return shown if "M02" in codes else None

        shown = await poll_until(second, within=30, failure="the second verification is missing")
    codes = [v["material_code"] for v in shown["video_verifications"]]
    assert codes == ["M01", "M02"]
    assert shown["video_verifications"][1]["material_name"] == "居民户口簿复印件"


def _verified(
    records: list[ConsumerRecord[bytes, bytes]], consultation_id: str
) -> list[ConsumerRecord[bytes, bytes]]:
    return [
        r
        for r in records
        if header(r, "ce_type") == VERIFIED and header(r, "ce_subject") == consultation_id
    ]
