"""邮政寄递 end to end: a postal application approved in 合肥 is handed to the carrier (the
simulator, a real process of its own) and the carrier's signed tracking reports bring it to
`delivered`, through a carrier that is down, or slow enough that its answer is lost."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from aiokafka import ConsumerRecord
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from services.delivery.domain import SIGNATURE_HEADER, webhook_signature
from shared.messaging import events, topics
from tests import factories
from tests.harness import Stack, eventually, header, read_topic
from tooling.carrier_simulator.control import SimulatorControl
from tooling.journey import Journey, household_application

pytestmark = pytest.mark.integration

HEFEI = "340100"
FUYANG = "341200"
DISPATCHED = events.CertificateDispatched.event_type
IN_TRANSIT = events.CertificateInTransit.event_type
DELIVERED = events.CertificateDelivered.event_type


@pytest.fixture
async def carrier(stack: Stack) -> AsyncIterator[SimulatorControl]:
    """The simulator, back to a working carrier that reports by itself after each test."""
    assert stack.carrier is not None
    yield stack.carrier
    await stack.carrier.set_mode("ok", progress=True)


@pytest.fixture(scope="module")
async def delivery_db(stack: Stack) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(stack.settings.service_database_url("delivery"))
    yield engine
    await engine.dispose()


def postal_application() -> dict[str, Any]:
    body = household_application(factories.applicant("340104"))
    body["delivery"] = {
        "method": "postal",
        "address": {
            "recipient": "张晓明",
            "phone": "15805516130",
            "locality": "340104",
            "line": "蜀山区长江西路100号",
        },
    }
    return body


async def approved_postal_application(trip: Journey) -> tuple[str, str]:
    """Submitted at the 阜阳 window, approved in 合肥: (application number, certificate)."""
    answer = await trip.submit(postal_application())
    assert answer.status_code == 201, answer.text
    number: str = answer.json()["application_no"]
    await trip.wait_for_status(number, "in_review")
    decided = await trip.approve(number, HEFEI)
    return number, decided["certificate_no"]


async def dispatch_of(engine: AsyncEngine, application_no: str) -> dict[str, Any] | None:
    async with engine.connect() as connection:
        row = (
            await connection.execute(
                text(
                    "SELECT status, attempts, last_error, carrier, tracking_no, dispatched_at "
                    "FROM postal_dispatches WHERE application_no = :n"
                ),
                {"n": application_no},
            )
        ).first()
    return dict(row._mapping) if row is not None else None


async def dispatch_when(engine: AsyncEngine, application_no: str, holds: Any) -> dict[str, Any]:
    async def look() -> dict[str, Any] | None:
        found = await dispatch_of(engine, application_no)
        return found if found is not None and holds(found) else None

    found = await eventually(look)
    assert isinstance(found, dict)
    return found


async def carrier_events_of(engine: AsyncEngine, tracking_no: str) -> list[str]:
    async with engine.connect() as connection:
        rows = await connection.execute(
            text("SELECT event FROM carrier_events WHERE tracking_no = :t ORDER BY id"),
            {"t": tracking_no},
        )
        return [row.event for row in rows]


def of_application(
    records: list[ConsumerRecord[bytes, bytes]], number: str
) -> list[tuple[str, dict[str, Any]]]:
    return [
        (header(r, "ce_type") or "", json.loads(r.value or b"{}"))
        for r in records
        if header(r, "ce_subject") == number
    ]


async def delivery_events_until_delivered(
    stack: Stack, number: str
) -> list[tuple[str, dict[str, Any]]]:
    records = await read_topic(
        stack.settings,
        topics.DELIVERY_EVENTS,
        until=lambda rs: DELIVERED in {kind for kind, _ in of_application(rs, number)},
    )
    return of_application(records, number)


def report(tracking_no: str, event: str) -> bytes:
    return json.dumps(
        {"tracking_no": tracking_no, "event": event, "at": datetime.now(UTC).isoformat()}
    ).encode()


async def test_a_certificate_waits_while_the_carrier_is_down_then_is_posted_once_and_delivered(
    stack: Stack, carrier: SimulatorControl, delivery_db: AsyncEngine
) -> None:
    await carrier.set_mode("fail")
    trip = stack.journey()
    number, certificate = await approved_postal_application(trip)

    # The carrier answers 503: the dispatch stays with delivery, its failures on record.
    failing = await dispatch_when(delivery_db, number, lambda d: d["attempts"] >= 1)
    assert failing["status"] == "awaiting_carrier"
    assert "503" in failing["last_error"]
    assert failing["tracking_no"] is None and failing["dispatched_at"] is None
    assert await carrier.shipments(certificate) == []

    await carrier.recover()

    final = await trip.wait_for_status(number, "delivered")
    assert final["status"] == "delivered"
    (shipment,) = await carrier.shipments(certificate)
    assert shipment["idempotency_key"] == certificate
    posted = await dispatch_of(delivery_db, number)
    assert posted is not None
    assert posted["status"] == "delivered"
    assert posted["tracking_no"] == shipment["tracking_no"]
    assert posted["carrier"] == stack.settings.carrier_name
    assert posted["attempts"] > failing["attempts"]

    published = await delivery_events_until_delivered(stack, number)
    kinds = [kind for kind, _ in published]
    assert kinds.count(DISPATCHED) == 1
    assert kinds.count(DELIVERED) == 1
    assert kinds.index(DISPATCHED) < kinds.index(DELIVERED)
    dispatched = next(body for kind, body in published if kind == DISPATCHED)
    assert dispatched["tracking_no"] == shipment["tracking_no"]
    assert dispatched["certificate_no"] == certificate
    assert dispatched["locality"] == FUYANG
    assert [body["carrier_event"] for kind, body in published if kind == IN_TRANSIT] == [
        "picked_up",
        "in_transit",
    ]
    delivered = next(body for kind, body in published if kind == DELIVERED)
    assert delivered["channel"] == "postal"
    assert delivered["tracking_no"] == shipment["tracking_no"]
    assert delivered["locality"] == FUYANG


async def test_a_carrier_whose_answer_is_lost_is_asked_again_and_posts_the_certificate_once(
    stack: Stack, carrier: SimulatorControl, delivery_db: AsyncEngine
) -> None:
    # The carrier creates the shipment but answers after delivery stopped waiting.
    await carrier.set_mode("slow", slow_seconds=stack.settings.carrier_timeout_seconds + 1.5)
    trip = stack.journey()
    number, certificate = await approved_postal_application(trip)

    timed_out = await dispatch_when(delivery_db, number, lambda d: d["attempts"] >= 1)
    assert timed_out["status"] == "awaiting_carrier"
    assert "timeout" in timed_out["last_error"]
    assert len(await carrier.shipments(certificate)) == 1  # the carrier has it all the same

    await carrier.recover()

    await trip.wait_for_status(number, "delivered")
    (shipment,) = await carrier.shipments(certificate)
    assert shipment["requests"] >= 2  # asked again, under the same key
    posted = await dispatch_of(delivery_db, number)
    assert posted is not None and posted["tracking_no"] == shipment["tracking_no"]
    kinds = [kind for kind, _ in await delivery_events_until_delivered(stack, number)]
    assert kinds.count(DISPATCHED) == 1


async def test_only_correctly_signed_carrier_reports_count_and_each_counts_once(
    stack: Stack, carrier: SimulatorControl, delivery_db: AsyncEngine
) -> None:
    # The carrier takes the dispatch but reports nothing itself: this test sends the reports.
    await carrier.set_mode("ok", progress=False)
    trip = stack.journey()
    number, certificate = await approved_postal_application(trip)
    dispatched = await dispatch_when(delivery_db, number, lambda d: d["status"] == "dispatched")
    tracking = dispatched["tracking_no"]
    secret = stack.settings.carrier_webhook_secret.get_secret_value()

    async def send(body: bytes, signature: str | None, token: str) -> Any:
        headers = {"Content-Type": "application/json"}
        if signature is not None:
            headers[SIGNATURE_HEADER] = signature
        async with stack.client("delivery", token) as delivery:
            return await delivery.post("/v1/carrier/events", content=body, headers=headers)

    carrier_token = stack.token("carrier", "340000")
    in_transit = report(tracking, "in_transit")
    for signature, body in (
        (None, in_transit),
        (webhook_signature(in_transit, "not-the-shared-secret"), in_transit),
        # Signed, then changed on the way.
        (webhook_signature(in_transit, secret), report(tracking, "delivered")),
    ):
        refused = await send(body, signature, carrier_token)
        assert refused.status_code == 401, refused.text
        assert refused.json()["error"]["code"] == "bad_signature"
    unchanged = await dispatch_of(delivery_db, number)
    assert unchanged is not None and unchanged["status"] == "dispatched"
    assert await carrier_events_of(delivery_db, tracking) == []

    # Only the carrier's role may report, even with the right signature.
    clerk = await send(in_transit, webhook_signature(in_transit, secret), trip.clerk_token)
    assert clerk.status_code == 403

    taken = await send(in_transit, webhook_signature(in_transit, secret), carrier_token)
    assert taken.status_code == 200, taken.text
    assert taken.json() == {
        "tracking_no": tracking,
        "event": "in_transit",
        "status": "in_transit",
        "duplicate": False,
    }
    replayed = await send(in_transit, webhook_signature(in_transit, secret), carrier_token)
    assert replayed.status_code == 200 and replayed.json()["duplicate"] is True

    delivered = report(tracking, "delivered")
    answer = await send(delivered, webhook_signature(delivered, secret), carrier_token)
    assert answer.status_code == 200 and answer.json()["status"] == "delivered"
    # A report that arrives late does not move a delivered certificate back.
    late = report(tracking, "picked_up")
    answer = await send(late, webhook_signature(late, secret), carrier_token)
    assert answer.status_code == 200 and answer.json()["status"] == "delivered"
    again = await send(delivered, webhook_signature(delivered, secret), carrier_token)
    assert again.status_code == 200 and again.json()["duplicate"] is True

    unknown = report("SP-NO-SUCH-PARCEL", "delivered")
    answer = await send(unknown, webhook_signature(unknown, secret), carrier_token)
    assert answer.status_code == 404

    final = await trip.wait_for_status(number, "delivered")
    assert final["status"] == "delivered"
    assert await carrier_events_of(delivery_db, tracking) == [
        "in_transit",
        "delivered",
        "picked_up",
    ]
    published = await delivery_events_until_delivered(stack, number)
    kinds = [kind for kind, _ in published]
    assert kinds.count(IN_TRANSIT) == 1
    assert kinds.count(DELIVERED) == 1
    assert len(await carrier.shipments(certificate)) == 1
