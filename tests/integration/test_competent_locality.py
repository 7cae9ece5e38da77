"""The competent locality, enforced by every consumer, on the real broker and database.

A locality's seal proves who states a fact, not that it may state it for this application: only
the locality routing made competent (its signed Routed / Transferred facts) may. Each attack is
made with 芜湖's (340200) real seal from this run's key ring against an application routing
sent to 合肥 (340100): it is dead-lettered and changes nothing in intake, routing or delivery.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime
from typing import Any, Literal

import pytest
from aiokafka import AIOKafkaProducer
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import create_async_engine

from services.delivery.db import CertificateRow as DeliveryCertificateRow
from services.delivery.db import PrintJobRow
from services.intake.db import CertificateRow as IntakeCertificateRow
from services.routing.db import RoutedApplicationRow
from shared.certificates import CertificateContent
from shared.messaging import events, topics
from shared.messaging.envelope import Envelope
from tests import factories
from tests.certificates import certificate_issued, routed_for
from tests.harness import Stack, eventually, header, read_topic
from tooling.journey import Journey, household_application, sample_pdf

pytestmark = pytest.mark.integration

HEFEI = "340100"
WUHU = "340200"
MAANSHAN = "340500"
INTAKE = "tongban.intake.progress"
DELIVERY = "tongban.delivery"
ROUTING = "tongban.routing"


async def dead_letter(stack: Stack, topic: str, event_id: str, consumer: str) -> tuple[str, str]:
    """(dlq.error.type, dlq.error.message) of `consumer`'s dead letter of event `event_id`."""

    def ours(record: Any) -> bool:
        return header(record, "ce_id") == event_id and header(record, "dlq.consumer") == consumer

    records = await read_topic(
        stack.settings, topics.dead_letter(topic), until=lambda found: any(map(ours, found))
    )
    [record] = [r for r in records if ours(r)]
    return header(record, "dlq.error.type") or "", header(record, "dlq.error.message") or ""


async def sealed_by(
    stack: Stack, producer: AIOKafkaProducer, payload: events.EventPayload, key: str
) -> Envelope:
    """`payload` on tongban.approval.events, signed with the key ring's `key` (a real seal)."""
    envelope = Envelope.new(payload, source="/tongban/approval")
    return await stack.put(producer, topics.APPROVAL_EVENTS, stack.signed_with(envelope, key))


async def hefeis_case(stack: Stack) -> tuple[Journey, str]:
    """An application handed in at the 阜阳 window, routed to 合肥, its case open there."""
    trip = stack.journey()
    response = await trip.submit(household_application(factories.applicant()))
    assert response.status_code == 201, response.text
    number: str = response.json()["application_no"]
    await trip.wait_for_case(number, HEFEI)
    await trip.wait_for_status(number, "in_review")
    return trip, number


async def rows(stack: Stack, service: Literal["intake", "delivery"], query: Any) -> int:
    engine = create_async_engine(stack.settings.service_database_url(service))
    try:
        async with engine.connect() as connection:
            return int(await connection.scalar(query) or 0)
    finally:
        await engine.dispose()


async def routing_holds(stack: Stack, number: str) -> str | None:
    engine = create_async_engine(stack.settings.service_database_url("routing"))
    try:
        async with engine.connect() as connection:
            found: str | None = await connection.scalar(
                select(RoutedApplicationRow.competent_locality).where(
                    RoutedApplicationRow.application_no == number
                )
            )
            return found
    finally:
        await engine.dispose()


def transfer_of(number: str) -> dict[str, Any]:
    return events.CaseTransferred(
        application_no=number,
        from_locality=HEFEI,
        to_locality=MAANSHAN,
        reason="申请人户籍已迁至马鞍山市",
        transferred_by="approver-340200",
        transferred_at=datetime.now(UTC),
    ).model_dump(mode="json")


async def put_raw(
    stack: Stack, producer: AIOKafkaProducer, event_type: str, data: dict[str, Any], key: str
) -> Envelope:
    """An approval event with exactly `data` (whatever its model says), signed with `key`."""
    envelope = Envelope(
        id=str(uuid.uuid4()),
        type=event_type,
        source="/tongban/approval",
        subject=data["application_no"],
        time=datetime.now(UTC),
        data=data,
    )
    return await stack.put(producer, topics.APPROVAL_EVENTS, stack.signed_with(envelope, key))


async def test_a_transfer_with_an_added_locality_is_dead_lettered_and_the_case_stays(
    stack: Stack, producer: AIOKafkaProducer
) -> None:
    trip, number = await hefeis_case(stack)
    # 芜湖 states 合肥's transfer, adding `locality: 340200` so that its own seal would be the one
    # the payload names; and the same added field under 合肥's own seal.
    added = transfer_of(number) | {"locality": WUHU}
    by_wuhu = await put_raw(
        stack, producer, events.CaseTransferred.event_type, added, f"seal-{WUHU}"
    )
    by_hefei = await put_raw(
        stack, producer, events.CaseTransferred.event_type, added, f"seal-{HEFEI}"
    )

    # And 芜湖 transferring 合肥's case in its own name, rightly sealed.
    in_its_own_name = events.CaseTransferred.model_validate(
        transfer_of(number) | {"from_locality": WUHU}
    )
    own = await sealed_by(stack, producer, in_its_own_name, f"seal-{WUHU}")

    kind, reason = await dead_letter(stack, topics.APPROVAL_EVENTS, by_wuhu.id, ROUTING)
    assert kind == "UntrustedEvent"
    assert "must be signed by seal-340100, not seal-340200" in reason
    kind, reason = await dead_letter(stack, topics.APPROVAL_EVENTS, by_hefei.id, ROUTING)
    assert kind == "EnvelopeError" and "Extra inputs are not permitted" in reason
    kind, reason = await dead_letter(stack, topics.APPROVAL_EVENTS, own.id, ROUTING)
    assert kind == "Forbidden" and f"{WUHU} does not hold {number}" in reason
    for consumer in (INTAKE, DELIVERY):
        kind, _ = await dead_letter(stack, topics.APPROVAL_EVENTS, own.id, consumer)
        assert kind == "NotCompetent"

    # Routing still holds it for 合肥, and the application goes on there.
    assert await routing_holds(stack, number) == HEFEI
    application = await trip.application(number)
    assert application["competent_locality"] == HEFEI
    assert application["status"] == "in_review"
    assert not [e for e in application["timeline"] if "移交" in e["note"]]


async def test_a_case_opened_a_certificate_and_a_decision_for_hefeis_application_sealed_by_wuhu(
    stack: Stack, producer: AIOKafkaProducer
) -> None:
    trip, number = await hefeis_case(stack)
    before = await trip.application(number)
    case = await trip.wait_for_case(number, HEFEI)
    opened = events.CaseOpened(
        application_no=number, locality=WUHU, deadline=date.today(), opened_at=datetime.now(UTC)
    )
    content = CertificateContent(
        number=f"CERT{WUHU}{uuid.uuid4().hex[:10].upper()}",
        application_no=number,
        item_code=case["item_code"],
        item_name="户口迁移证明开具",
        holder_name="张晓明",
        holder_id_digest="ab" * 32,
        issuer_locality=WUHU,
        issuer_department="芜湖市公安局",
        issued_on=date.today(),
        valid_until=None,
    )
    issued = certificate_issued(stack, content)  # sealed with 芜湖's real seal
    approved = events.ApplicationApproved(
        application_no=number,
        locality=WUHU,
        item_code=case["item_code"],
        decided_at=datetime.now(UTC),
        receiving_locality="341200",
        window_id="W341200-01",
        holder_name_masked="张**",
        holder_id_digest="ab" * 32,
        delivery=events.Delivery(method="window_pickup"),
        certificate_no=content.number,
        item_name="户口迁移证明开具",
    )
    sent = {
        payload.event_type: await sealed_by(stack, producer, payload, f"seal-{WUHU}")
        for payload in (opened, issued, approved)
    }

    expected = [
        (opened, INTAKE),
        (issued, INTAKE),
        (issued, DELIVERY),
        (approved, INTAKE),
        (approved, DELIVERY),
    ]
    for payload, consumer in expected:
        envelope = sent[payload.event_type]
        kind, reason = await dead_letter(stack, topics.APPROVAL_EVENTS, envelope.id, consumer)
        assert kind == "NotCompetent", (payload.event_type, consumer, reason)
        assert f"from {WUHU}, but routing made {HEFEI} competent for {number}" in reason

    # Intake: the application as it was; no certificate of 芜湖's to cite.
    after = await trip.application(number)
    assert after["competent_locality"] == HEFEI and after["status"] == "in_review"
    assert after["timeline"] == before["timeline"]
    assert WUHU not in {entry["locality"] for entry in after["timeline"]}
    certificates = select(func.count()).where(IntakeCertificateRow.certificate_no == content.number)
    assert await rows(stack, "intake", certificates) == 0
    # Delivery: nothing queued, nothing registered to print or verify.
    queued = select(func.count()).where(PrintJobRow.application_no == number)
    assert await rows(stack, "delivery", queued) == 0
    registered = select(func.count()).where(DeliveryCertificateRow.number == content.number)
    assert await rows(stack, "delivery", registered) == 0
    # Routing: still 合肥's.
    assert await routing_holds(stack, number) == HEFEI

    # 合肥's own decision still goes through, to the print queue.
    await trip.approve(number, HEFEI)
    await trip.wait_in_print_queue(number)


async def test_an_approval_read_before_routings_fact_waits_for_it(
    stack: Stack, producer: AIOKafkaProducer
) -> None:
    # An application no window handed in, so that this test decides when routing's fact comes.
    number = f"TBWAIT{uuid.uuid4().hex[:12].upper()}"
    approved = events.ApplicationApproved(
        application_no=number,
        locality=HEFEI,
        item_code="GA-HJ-001",
        decided_at=datetime.now(UTC),
        receiving_locality="341200",
        window_id="W341200-01",
        holder_name_masked="张**",
        holder_id_digest="ab" * 32,
        delivery=events.Delivery(method="window_pickup"),
        certificate_no=f"CERT{uuid.uuid4().hex[:12].upper()}",
        item_name="户口迁移证明开具",
    )
    await stack.publish(producer, approved, topics.APPROVAL_EVENTS)
    queued = select(func.count()).where(PrintJobRow.application_no == number)
    await asyncio.sleep(2)
    assert await rows(stack, "delivery", queued) == 0  # waiting for routing's fact

    await routed_for(stack, producer, approved)

    async def in_queue() -> bool:
        return await rows(stack, "delivery", queued) == 1

    await eventually(in_queue, within=30)


async def test_a_window_cannot_cite_a_scan_another_window_uploaded(stack: Stack) -> None:
    hefei_window = stack.journey(window_id="W340104-01", locality="340104")
    scan = await hefei_window.upload_scan(sample_pdf("合肥窗口 903 的身份证扫描件"))
    body = household_application(factories.applicant())
    body["materials"][0]["sha256"] = scan["sha256"]

    # The 阜阳 window knows the digest, but never uploaded the scan.
    refused = await stack.journey().submit(body)
    assert refused.status_code == 422, refused.text
    error = refused.json()["error"]
    assert error["code"] == "incomplete_application"
    [problem] = [p for p in error["details"]["problems"] if p["code"] == "scan_not_uploaded"]
    assert problem["material_code"] == body["materials"][0]["material_code"]
    assert "本窗口未上传过" in problem["message"]

    # The window that uploaded it cites it.
    accepted = await hefei_window.submit(body)
    assert accepted.status_code == 201, accepted.text
