"""Signed events on the real broker: what is unsigned, forged, signed by a key without the
authority, or put on another locality's topic is dead-lettered with the reason and has no
effect; what is rightly signed goes through (every other integration test)."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime

import pytest
from aiokafka import AIOKafkaProducer

from shared.crypto.sm import sm2_generate, sm2_sign
from shared.messaging import events, topics
from shared.messaging.envelope import Envelope
from shared.messaging.signing import canonical_bytes
from tests import factories
from tests.harness import Stack, header, read_topic
from tests.integration.test_reliability import count_cases, new_application_no, routed_event
from tooling.journey import household_application

pytestmark = pytest.mark.integration

HEFEI = "340100"
HEFEI_REQUESTS = topics.approval_requests(HEFEI)


async def dead_letter_reason(stack: Stack, topic: str, event_id: str, consumer: str) -> str:
    records = await read_topic(
        stack.settings,
        topics.dead_letter(topic),
        until=lambda found: any(
            header(r, "ce_id") == event_id and header(r, "dlq.consumer") == consumer for r in found
        ),
    )
    [record] = [
        r
        for r in records
        if header(r, "ce_id") == event_id and header(r, "dlq.consumer") == consumer
    ]
    assert header(record, "dlq.error.type") == "UntrustedEvent"
    return header(record, "dlq.error.message") or ""


async def test_unsigned_forged_and_unauthorised_requests_are_dead_lettered_without_a_case(
    stack: Stack, producer: AIOKafkaProducer
) -> None:
    unsigned = Envelope.new(routed_event(new_application_no()), source="/tongban/routing")
    # A key routing never had, under routing's key id.
    private, _ = sm2_generate()
    rogue = Envelope.new(routed_event(new_application_no()), source="/tongban/routing")
    forged = rogue.signed(
        base64.b64encode(sm2_sign(private, canonical_bytes(rogue))).decode(),
        stack.settings.key_ring().signer("routing").kid,
    )
    # Rightly signed by routing, then changed on the way (the applicant's locality).
    genuine = stack.signed(
        Envelope.new(routed_event(new_application_no()), source="/tongban/routing"),
        HEFEI_REQUESTS,
    )
    tampered = Envelope(
        **{**genuine.__dict__, "data": {**genuine.data, "department": "另一个部门"}}
    )
    # Intake's own key: intake may not hand applications to a locality.
    by_intake = stack.signed_with(
        Envelope.new(routed_event(new_application_no()), source="/tongban/intake"), "intake"
    )
    expected = [
        (unsigned, "not signed"),
        (forged, "does not verify"),
        (tampered, "does not verify"),
        (by_intake, "must be signed by routing"),
    ]
    for envelope, _ in expected:
        await stack.put(producer, HEFEI_REQUESTS, envelope)

    for envelope, reason in expected:
        message = await dead_letter_reason(stack, HEFEI_REQUESTS, envelope.id, "tongban.approval")
        assert reason in message
        assert await count_cases(stack, envelope.subject) == 0


async def test_an_application_put_on_another_localitys_topic_is_refused(
    stack: Stack, producer: AIOKafkaProducer
) -> None:
    # Signed by routing, but the application belongs to 芜湖 (340200): approval of 合肥 must
    # not open it just because it arrived on 合肥's topic.
    event = routed_event(new_application_no()).model_copy(update={"competent_locality": "340200"})
    misplaced = stack.signed(Envelope.new(event, source="/tongban/routing"), HEFEI_REQUESTS)
    await stack.put(producer, HEFEI_REQUESTS, misplaced)

    message = await dead_letter_reason(stack, HEFEI_REQUESTS, misplaced.id, "tongban.approval")
    assert "competent locality is not 340100" in message
    assert await count_cases(stack, misplaced.subject) == 0


async def test_a_decision_sealed_by_another_locality_has_no_effect(
    stack: Stack, producer: AIOKafkaProducer
) -> None:
    journey = stack.journey()
    response = await journey.submit(household_application(factories.applicant()))
    assert response.status_code == 201, response.text
    number = response.json()["application_no"]
    case = await journey.wait_for_case(number, HEFEI)

    # 芜湖's approval states that 合肥 approved 合肥's case, sealed with 芜湖's own seal.
    decision = events.ApplicationApproved(
        application_no=number,
        locality=HEFEI,
        item_code=case["item_code"],
        decided_at=datetime.now(UTC),
        receiving_locality="341200",
        window_id="W341200-01",
        holder_name_masked="张*",
        holder_id_digest="ab" * 32,
        delivery=events.Delivery(method="window_pickup"),
        certificate_no=f"CERT{uuid.uuid4().hex[:10].upper()}",
        item_name="户口迁移证明开具",
    )
    forged = stack.signed_with(Envelope.new(decision, source="/tongban/approval"), "seal-340200")
    await stack.put(producer, topics.APPROVAL_EVENTS, forged)

    for consumer in ("tongban.delivery", "tongban.intake.progress"):
        message = await dead_letter_reason(stack, topics.APPROVAL_EVENTS, forged.id, consumer)
        assert "must be signed by seal-340100, not seal-340200" in message
    application = await journey.application(number)
    assert application["status"] == "in_review"
    assert "approved" not in {entry["status"] for entry in application["timeline"]}
