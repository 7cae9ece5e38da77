"""一件事, one result by post: a registered resident's 新生儿出生 bundle, chosen for post, all
approved. Delivery holds each member's certificate until all four are there, then hands the
carrier (the simulator, a process of its own) ONE shipment holding the four certificates, asked
again under the same key when the carrier's answer was lost; each member's application shows
that one tracking number; the carrier's signed delivery report makes every member delivered,
once however often it is sent; the applicant gets one text per fact (posted, delivered) by the
bundle's number, none per child."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from services.delivery.domain import SIGNATURE_HEADER, webhook_signature
from shared.db import Database
from shared.messaging import events, topics
from tests import factories
from tests.harness import RunningService, Stack, eventually, header, read_topic
from tests.integration.test_bundle_result import HEFEI, SHUSHAN
from tests.integration.test_portal_notifications import LI, db, portal, texts_of, wait_texts
from tooling.bundle_journey import newborn_bundle, released, submit_bundle
from tooling.carrier_simulator.control import SimulatorControl
from tooling.journey import Journey
from tooling.sms_gateway.control import SmsGatewayControl

pytestmark = pytest.mark.integration

__all__ = ["db", "portal"]  # the portal of test_portal_notifications.py, fixtures here too

DISPATCHED = events.CertificateDispatched.event_type
DELIVERED = events.CertificateDelivered.event_type


@pytest.fixture
async def carrier(stack: Stack) -> AsyncIterator[SimulatorControl]:
    """The simulator, reporting nothing by itself (the test sends the carrier's reports); back
    to a working carrier that reports after the test."""
    assert stack.carrier is not None
    await stack.carrier.set_mode("ok", progress=False)
    yield stack.carrier
    await stack.carrier.set_mode("ok", progress=True)


@pytest.fixture(scope="module")
async def delivery_db(stack: Stack) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(stack.settings.service_database_url("delivery"))
    yield engine
    await engine.dispose()


async def rows(engine: AsyncEngine, sql: str, **params: Any) -> list[dict[str, Any]]:
    async with engine.connect() as connection:
        return [dict(r._mapping) for r in await connection.execute(text(sql), params)]


async def parcel_of(engine: AsyncEngine, bundle_no: str) -> dict[str, Any]:
    """The bundle's delivery row (its parcel); {} before the bundle is complete."""
    found = await rows(
        engine,
        "SELECT status, method, attempts, last_error, tracking_no, carrier FROM bundle_deliveries "
        "WHERE bundle_no = :b",
        b=bundle_no,
    )
    return found[0] if found else {}


async def carrier_report(stack: Stack, tracking_no: str, event: str) -> dict[str, Any]:
    """The carrier's signed tracking report, as its webhook sends it."""
    body = json.dumps(
        {"tracking_no": tracking_no, "event": event, "at": datetime.now(UTC).isoformat()}
    ).encode()
    secret = stack.settings.carrier_webhook_secret.get_secret_value()
    async with stack.client("delivery", stack.token("carrier", "340000")) as delivery:
        answer = await delivery.post(
            "/v1/carrier/events",
            content=body,
            headers={
                "Content-Type": "application/json",
                SIGNATURE_HEADER: webhook_signature(body, secret),
            },
        )
    assert answer.status_code == 200, answer.text
    taken: dict[str, Any] = answer.json()
    return taken


async def test_a_postal_bundle_is_one_parcel_one_tracking_number_and_one_text_per_fact(
    stack: Stack,
    portal: RunningService,
    db: Database,
    sms_gateway: SmsGatewayControl,
    carrier: SimulatorControl,
    delivery_db: AsyncEngine,
) -> None:
    trip = stack.journey()
    await trip.upload_sample_scans()
    id_number, name, phone = LI
    applicant = {
        "kind": "person",
        "name": name,
        "id_type": "resident_id",
        "id_number": id_number,
        "phone": phone,
        "locality": SHUSHAN,
    }
    body = newborn_bundle(applicant, factories.resident_id(SHUSHAN))
    assert body["delivery"]["method"] == "postal"
    response = await submit_bundle(trip, body)
    assert response.status_code == 201, response.text
    bundle_no = response.json()["bundle_no"]
    numbers = {c["item_code"]: c["application_no"] for c in response.json()["children"]}

    # The certificates issued before the last are held: nothing at the carrier yet, no
    # member dispatched. The carrier then takes the parcel but its answer comes too late (the
    # ambiguous case).
    await approve_all_but_the_last(trip, bundle_no, numbers, delivery_db)
    assert {d["status"] for d in await held(delivery_db, bundle_no)} == {"awaiting_carrier"}
    # The bundle is not complete yet: no parcel.
    assert await parcel_of(delivery_db, bundle_no) == {}
    assert [s for s in await carrier.shipments() if s["reference"] == bundle_no] == []
    await carrier.set_mode("slow", slow_seconds=stack.settings.carrier_timeout_seconds + 1.5)
    await trip.approve(numbers["SB-SBK-002"], HEFEI)

    async def timed_out() -> dict[str, Any] | None:
        parcel = await parcel_of(delivery_db, bundle_no)
        return parcel if parcel.get("attempts", 0) >= 1 else None

    failing = await eventually(timed_out, within=60)
    assert isinstance(failing, dict)
    assert failing["status"] == "awaiting_carrier" and "timeout" in failing["last_error"]
    assert failing["method"] == "postal" and failing["tracking_no"] is None
    await carrier.set_mode("ok")

    # ONE shipment at the carrier, holding every certificate; none posted alone.
    dispatches = await held(delivery_db, bundle_no)
    certificates = sorted(d["certificate_no"] for d in dispatches)
    assert {d["application_no"] for d in dispatches} == set(numbers.values())
    for number in numbers.values():
        await trip.wait_for_status(number, "dispatched")
    [shipment] = [s for s in await carrier.shipments() if s["reference"] == bundle_no]
    assert shipment["idempotency_key"] == bundle_no
    assert sorted(shipment["contents"]) == certificates
    assert shipment["requests"] >= 2  # asked again under the same key: found, not made twice
    for certificate in certificates:
        assert await carrier.shipments(certificate) == []
    tracking = shipment["tracking_no"]
    parcel = await parcel_of(delivery_db, bundle_no)
    assert parcel["status"] == "dispatched" and parcel["tracking_no"] == tracking
    assert parcel["carrier"] == stack.settings.carrier_name

    # Each member's application shows the parcel's tracking number.
    for number in numbers.values():
        application = await trip.application(number)
        assert application["status"] == "dispatched"
        assert any(
            e["status"] == "dispatched" and tracking in e["note"] for e in application["timeline"]
        ), application["timeline"]

    # One text for the parcel, by the bundle's number, with the tracking number.
    [posted] = await wait_texts(sms_gateway, phone, bundle_no, 1, within=60)
    assert tracking in posted["text"] and "一件事" in posted["text"]

    # The carrier's delivery report: every member delivered, the parcel too; again, nothing.
    taken = await carrier_report(stack, tracking, "delivered")
    assert taken == {
        "tracking_no": tracking,
        "event": "delivered",
        "status": "delivered",
        "duplicate": False,
    }
    assert (await carrier_report(stack, tracking, "delivered"))["duplicate"] is True
    for number in numbers.values():
        final = await trip.wait_for_status(number, "delivered")
        assert any(
            e["status"] == "delivered" and tracking in e["note"] for e in final["timeline"]
        ), final["timeline"]
    assert (await parcel_of(delivery_db, bundle_no))["status"] == "delivered"
    members = await rows(
        delivery_db, "SELECT status FROM postal_dispatches WHERE bundle_no = :b", b=bundle_no
    )
    assert {m["status"] for m in members} == {"delivered"}

    # On delivery's topic: each member dispatched once and delivered once, by the parcel.
    children = set(numbers.values())

    def done(records: list[Any]) -> bool:
        delivered = {header(r, "ce_subject") for r in records if header(r, "ce_type") == DELIVERED}
        return children <= delivered

    published = [
        (header(r, "ce_type"), header(r, "ce_subject"), json.loads(r.value or b"{}"))
        for r in await read_topic(stack.settings, topics.DELIVERY_EVENTS, until=done)
        if header(r, "ce_subject") in children
    ]
    for kind in (DISPATCHED, DELIVERED):
        of_kind = [(subject, body) for k, subject, body in published if k == kind]
        assert sorted(str(subject) for subject, _ in of_kind) == sorted(children), kind
        assert {(body["tracking_no"], body["bundle_no"]) for _, body in of_kind} == {
            (tracking, bundle_no)
        }

    # One text per fact for the bundle (posted, delivered), none for a child on its own.
    posted, delivered = await wait_texts(sms_gateway, phone, bundle_no, 2, within=60)
    assert "已全部送达" in delivered["text"]
    assert len(await texts_of(sms_gateway, phone, bundle_no)) == 2
    for number in numbers.values():
        assert await texts_of(sms_gateway, phone, number) == [], number
    assert len([s for s in await carrier.shipments() if s["reference"] == bundle_no]) == 1


async def approve_all_but_the_last(
    trip: Journey, bundle_no: str, numbers: dict[str, str], delivery_db: AsyncEngine
) -> None:
    """The birth certificate, the registration and 医保 approved (as approve_required does);
    社会保障卡 (合肥市) left in review. Their certificates are held for the parcel."""
    await trip.approve(numbers["WJ-CS-001"], SHUSHAN)
    await released(trip, bundle_no, "GA-HJ-003")
    await trip.wait_for_status(numbers["GA-HJ-003"], "in_review")
    await trip.approve(numbers["GA-HJ-003"], SHUSHAN)
    await released(trip, bundle_no, "YL-CB-001", "SB-SBK-002")
    await trip.wait_for_case(numbers["YL-CB-001"], SHUSHAN)
    await trip.wait_for_case(numbers["SB-SBK-002"], HEFEI)
    await trip.approve(numbers["YL-CB-001"], SHUSHAN)

    async def three_held() -> bool:
        return len(await held(delivery_db, bundle_no)) == 3

    await eventually(three_held, within=60)


async def held(engine: AsyncEngine, bundle_no: str) -> list[dict[str, Any]]:
    """The members' dispatches held for (or sent in) the bundle's parcel."""
    return await rows(
        engine,
        "SELECT application_no, certificate_no, status FROM postal_dispatches "
        "WHERE bundle_no = :b ORDER BY application_no",
        b=bundle_no,
    )
