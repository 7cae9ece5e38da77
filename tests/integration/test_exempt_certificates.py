"""免证办 and postal tracking at the window, against the real broker and database.

Certificates come into intake's replica of the registry as approval announces them
(CertificateIssued, CertificateRevoked on tongban.approval.events, sealed by the issuing
locality): the tests announce them themselves, sealed with 合肥's seal as approval would. A window
then cites one instead of a material's scan; intake checks it is valid and the applicant's.
The carrier's reports reach the applicant's timeline as delivery announces them."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine

from services.intake.db import CertificateRow
from shared.certificates import CertificateContent
from shared.identity import id_number_digest
from shared.messaging import events, topics
from tests import factories
from tests.certificates import certificate_issued, routed_for
from tests.harness import Stack, eventually
from tooling.journey import (
    CITABLE_CERTIFICATE_ITEM,
    Journey,
    household_application,
    household_application_citing,
)

pytestmark = pytest.mark.integration

HEFEI = "340100"
# 蜀山区 of 合肥: GA-HJ-002 (the register's changes) is decided by the applicant's county.
SHUSHAN = "340104"


def certificate_number() -> str:
    return f"ZZ{HEFEI}{uuid.uuid4().hex[:12].upper()}"


async def announce(
    stack: Stack, producer: AIOKafkaProducer, payload: events.EventPayload, topic: str
) -> None:
    """Put `payload` on `topic`, signed as its rightful producer would sign it."""
    await stack.publish(producer, payload, topic)


async def issue(
    stack: Stack,
    producer: AIOKafkaProducer,
    holder_id_number: str,
    *,
    item_code: str = CITABLE_CERTIFICATE_ITEM,
    valid_until: date | None = None,
    issuer: str = SHUSHAN,
) -> events.CertificateIssued:
    """蜀山区 (or `issuer`) issues a certificate to the holder of `holder_id_number`, as approval
    would, for an application routing sent there."""
    digest_key = stack.settings.pii_digest_key.get_secret_value().encode()
    content = CertificateContent(
        number=certificate_number(),
        application_no=f"TB{issuer}{uuid.uuid4().hex[:14].upper()}",
        item_code=item_code,
        item_name="户口登记项目变更更正",
        holder_name="张晓明",
        holder_id_digest=id_number_digest(holder_id_number, digest_key),
        issuer_locality=issuer,
        issuer_department="公安分局" if issuer == SHUSHAN else "公安局",
        issued_on=date.today(),
        valid_until=valid_until,
    )
    issued = certificate_issued(stack, content)
    await routed_for(stack, producer, issued)
    await announce(stack, producer, issued, topics.APPROVAL_EVENTS)
    return issued


async def revoke(
    stack: Stack, producer: AIOKafkaProducer, issued: events.CertificateIssued
) -> None:
    revoked = events.CertificateRevoked(
        application_no=issued.application_no,
        locality=issued.locality,
        certificate_no=issued.certificate_no,
        reason="据以作出变更的依据系伪造",
        revoked_by="approver-340100",
        revoked_at=datetime.now(UTC),
    )
    await announce(stack, producer, revoked, topics.APPROVAL_EVENTS)


async def known_to_intake(stack: Stack, certificate_no: str, *, revoked: bool = False) -> None:
    """Wait until intake's replica of the registry has taken the announcement in (it reads the
    topic in its own time)."""
    engine = create_async_engine(stack.settings.service_database_url("intake"))

    async def arrived() -> bool:
        async with engine.connect() as connection:
            row = (
                await connection.execute(
                    select(CertificateRow.revoked_at).where(
                        CertificateRow.certificate_no == certificate_no
                    )
                )
            ).first()
        return row is not None and (row.revoked_at is not None) == revoked

    try:
        await eventually(arrived)
    finally:
        await engine.dispose()


async def notice_problems(trip: Journey, body: dict[str, Any]) -> list[tuple[str, str]]:
    response = await trip.submit(body)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "incomplete_application"
    return sorted(
        (p.get("material_code") or p["field"], p["code"]) for p in error["details"]["problems"]
    )


async def test_a_cited_certificate_replaces_the_scan_and_the_application_travels_on(
    stack: Stack, producer: AIOKafkaProducer
) -> None:
    trip = stack.journey()
    await trip.upload_sample_scans()
    applicant = factories.applicant()
    issued = await issue(stack, producer, applicant["id_number"])
    await known_to_intake(stack, issued.certificate_no)

    body = household_application_citing(applicant, issued.certificate_no)
    key = str(uuid.uuid4())
    response = await trip.submit(body, idempotency_key=key)
    assert response.status_code == 201, response.text
    accepted = response.json()
    # The household register copy is proven, not deferred (容缺) and not scanned.
    assert accepted["deferred"] == []
    assert accepted["competent_locality"] == HEFEI
    application_no = accepted["application_no"]
    # A retry with the same key and body gets the same answer.
    again = await trip.submit(body, idempotency_key=key)
    assert (again.status_code, again.json()) == (201, accepted)

    await trip.wait_for_status(application_no, "in_review")
    shown = await trip.application(application_no)
    cited = {
        "material_code": "M02",
        "certificate_no": issued.certificate_no,
        "issuer_locality": SHUSHAN,
        "item_code": CITABLE_CERTIFICATE_ITEM,
    }
    assert shown["certificates"] == [cited]
    # 合肥's approver sees the citation with the application; nothing is outstanding, so the
    # case is approved without an override for deferred materials.
    case = await trip.wait_for_case(application_no, HEFEI)
    assert case["application"]["certificates"] == [cited]
    assert [m["material_code"] for m in case["application"]["materials"]] == ["M01"]
    assert case["deferred"] == []
    decided = await trip.approve(application_no, HEFEI)
    assert decided["override_reason"] is None
    await trip.wait_for_status(application_no, "approved")


async def test_certificates_that_cannot_stand_in_are_each_named_in_the_one_time_notice(
    stack: Stack, producer: AIOKafkaProducer
) -> None:
    trip = stack.journey()
    await trip.upload_sample_scans()
    applicant = factories.applicant()
    someone_else = factories.applicant()
    own = await issue(stack, producer, applicant["id_number"])
    others = await issue(stack, producer, someone_else["id_number"])
    revoked = await issue(stack, producer, applicant["id_number"])
    expired = await issue(
        stack, producer, applicant["id_number"], valid_until=date.today() - timedelta(days=1)
    )
    # Sealed by 合肥 (a city), which is never competent for a county's item.
    by_a_city = await issue(stack, producer, applicant["id_number"], issuer=HEFEI)
    await revoke(stack, producer, revoked)
    for certificate in (own, others, expired, by_a_city):
        await known_to_intake(stack, certificate.certificate_no)
    await known_to_intake(stack, revoked.certificate_no, revoked=True)

    def citing(number: str) -> dict[str, Any]:
        return household_application_citing(applicant, number)

    assert await notice_problems(trip, citing(others.certificate_no)) == [
        ("M02", "certificate_not_applicants")
    ]
    assert await notice_problems(trip, citing(certificate_number())) == [
        ("M02", "certificate_not_found")
    ]
    assert await notice_problems(trip, citing(revoked.certificate_no)) == [
        ("M02", "certificate_revoked")
    ]
    assert await notice_problems(trip, citing(expired.certificate_no)) == [
        ("M02", "certificate_expired")
    ]
    assert await notice_problems(trip, citing(by_a_city.certificate_no)) == [
        ("M02", "certificate_issuer_not_competent")
    ]
    # The ID card (M01) cannot be proven by a certificate: its original is checked at the window.
    not_allowed = household_application(applicant)
    not_allowed["materials"] = [{"material_code": "M01", "certificate_no": own.certificate_no}]
    assert await notice_problems(trip, not_allowed) == [("M01", "certificate_not_allowed")]

    # Several at once: all in one notice, with the application's other problems.
    several = household_application(applicant)
    several["materials"] = [
        {"material_code": "M01", "certificate_no": own.certificate_no},
        {"material_code": "M02", "certificate_no": others.certificate_no},
    ]
    several["commitments"] = []
    response = await trip.submit(several)
    assert response.status_code == 422
    details = response.json()["error"]["details"]
    assert sorted((p["material_code"], p["code"]) for p in details["problems"]) == [
        ("M01", "certificate_not_allowed"),
        ("M02", "certificate_not_applicants"),
        ("M03", "material_missing"),
    ]
    async with stack.client("intake", trip.clerk_token) as intake:
        again = await intake.get(f"/v1/notices/{details['notice_no']}")
    assert again.json()["problems"] == details["problems"]


async def test_a_material_gives_a_scan_or_a_certificate_never_both_nor_neither(
    stack: Stack,
) -> None:
    trip = stack.journey()
    body = household_application(factories.applicant())
    both = {**body["materials"][0], "certificate_no": certificate_number()}
    neither = {"material_code": "M02"}
    for material, says in ((both, "只能提供其一"), (neither, "请提供 sha256")):
        response = await trip.submit({**body, "materials": [material]})
        assert response.status_code == 422, response.text
        error = response.json()["error"]
        assert error["code"] == "invalid_request"
        assert [p["field"] for p in error["details"]] == ["materials.0"]
        assert says in error["details"][0]["message"]
        assert "certificate_no" in error["details"][0]["message"]


async def test_the_parcel_is_followed_on_the_timeline_until_it_is_delivered_by_post(
    stack: Stack, producer: AIOKafkaProducer
) -> None:
    trip = stack.journey()
    await trip.upload_sample_scans()
    applicant = factories.applicant()
    body = household_application(applicant)
    body["delivery"] = {
        "method": "postal",
        "address": {
            "recipient": applicant["name"],
            "phone": applicant["phone"],
            "locality": "341202",
            "line": "颍州区清河路100号",
        },
    }
    response = await trip.submit(body)
    assert response.status_code == 201, response.text
    application_no = response.json()["application_no"]
    certificate_no = certificate_number()
    tracking_no = f"SP{uuid.uuid4().hex[:10].upper()}"
    posted = {"application_no": application_no, "certificate_no": certificate_no}
    now = datetime.now(UTC)
    reports: list[events.EventPayload] = [
        events.CertificateDispatched(
            **posted,
            locality="341200",
            carrier="sim-post",
            tracking_no=tracking_no,
            dispatched_at=now,
        ),
        events.CertificateInTransit(
            **posted,
            locality="341200",
            tracking_no=tracking_no,
            carrier_event="picked_up",
            at=now,
        ),
    ]
    for report in reports:
        await announce(stack, producer, report, topics.DELIVERY_EVENTS)
    dispatched = await trip.wait_for_status(application_no, "in_transit")
    # The parcel is on its way: the application reads dispatched, the timeline tells more.
    assert dispatched["status"] == "dispatched"

    delivered_report = events.CertificateDelivered(
        **posted,
        locality="341200",
        delivered_at=datetime.now(UTC),
        channel="postal",
        tracking_no=tracking_no,
    )
    await announce(stack, producer, delivered_report, topics.DELIVERY_EVENTS)
    await trip.wait_for_status(application_no, "delivered")
    # A late report of the carrier does not move a delivered application back.
    late = events.CertificateInTransit(
        **posted, locality="341200", tracking_no=tracking_no, carrier_event="in_transit", at=now
    )
    await announce(stack, producer, late, topics.DELIVERY_EVENTS)

    async def late_report_recorded() -> dict[str, Any] | None:
        # Read in English: the notes are stored as their source and translated when read.
        async with stack.client("intake", trip.clerk_token) as intake:
            answer = await intake.get(
                f"/v1/applications/{application_no}", headers={"Accept-Language": "en"}
            )
        shown: dict[str, Any] = answer.json()
        notes = [e["note"] for e in shown["timeline"]]
        return shown if any(n.startswith("In transit") for n in notes) else None

    shown = await eventually(late_report_recorded)
    assert isinstance(shown, dict)
    assert shown["status"] == "delivered"
    postal = [
        (entry["status"], entry["note"])
        for entry in shown["timeline"]
        if entry["status"] in {"dispatched", "in_transit", "delivered"}
    ]
    assert postal == [
        ("dispatched", f"Dispatched by post (sim-post), tracking {tracking_no}"),
        ("in_transit", f"Picked up by the carrier, tracking {tracking_no}"),
        ("delivered", f"Delivered by post, tracking {tracking_no}"),
        ("in_transit", f"In transit, tracking {tracking_no}"),
    ]
