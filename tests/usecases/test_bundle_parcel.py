"""一件事 by post, delivery's side against the real PostgreSQL: the members' approvals and the
bundle's completion, in either order and each told twice, make ONE parcel and post nothing
alone; the parcel goes to the carrier once (the same key and body after a lost answer), every
member dispatched with its one tracking number; the carrier's report delivers every member
once. The carrier is the one external party faked here (tests/integration/test_bundle_parcel.py
posts through the simulator)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import select

from services.delivery.carrier import CarrierClient
from services.delivery.db import BundleDeliveryRow, PostalDispatchRow
from services.delivery.schemas import CarrierReport
from services.delivery.usecases import bundle_readiness, dispatch, parcels
from services.delivery.usecases.print_jobs import queue_certificate
from shared import clock
from shared.messaging import events
from shared.telemetry import Telemetry
from tests import factories
from tests.usecases.conftest import DIGEST_KEY, Unit

DISPATCHED = events.CertificateDispatched.event_type
DELIVERED = events.CertificateDelivered.event_type
WINDOW = "W341200-01"
ADDRESS = events.PostalAddress(
    recipient="张晓明", phone="15805516130", locality="340104", line="蜀山区长江西路100号"
)


class Carrier:
    """The carrier's HTTP API as delivery's client meets it: the first answer lost (a timeout
    after the carrier made the shipment), then the same tracking number for the same key."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.lose_next = True

    def answer(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.lose_next:
            self.lose_next = False
            raise httpx.ReadTimeout("the answer was lost", request=request)
        return httpx.Response(200, json={"tracking_no": "SPPARCEL0001"})

    def client(self) -> CarrierClient:
        return CarrierClient(
            "http://carrier.test",
            name="sim-post",
            timeout_seconds=1,
            max_attempts=1,
            http=httpx.AsyncClient(
                base_url="http://carrier.test", transport=httpx.MockTransport(self.answer)
            ),
        )


def members(bundle_no: str, count: int = 3) -> list[events.ApplicationApproved]:
    holder = factories.resident_id()
    return [
        factories.approved(holder, DIGEST_KEY, window_id=WINDOW).model_copy(
            update={
                "delivery": events.Delivery(method="postal", address=ADDRESS),
                "bundle_no": bundle_no,
            }
        )
        for _ in range(count)
    ]


def completed(
    bundle_no: str, approvals: list[events.ApplicationApproved]
) -> events.BundleCompleted:
    return events.BundleCompleted(
        bundle_no=bundle_no,
        bundle_id="YJS-XSECS",
        receiving_locality="341200",
        window_id=WINDOW,
        members=[a.application_no for a in approvals],
        completed_at=clock.now(),
    )


async def parcel(delivery: Unit, bundle_no: str) -> BundleDeliveryRow:
    async with delivery.transaction() as session:
        row = await session.get(BundleDeliveryRow, bundle_no, populate_existing=True)
        assert row is not None
        return row


@pytest.mark.parametrize("completion_first", [True, False])
async def test_one_parcel_whatever_the_order_and_however_often_each_fact_is_told(
    delivery: Unit, telemetry: Telemetry, completion_first: bool
) -> None:
    bundle_no = f"YJS341200{factories.unique():014d}"
    approvals = members(bundle_no)
    facts: list[events.ApplicationApproved | events.BundleCompleted] = [*approvals]
    done = completed(bundle_no, approvals)
    facts.insert(0 if completion_first else 2, done)
    for fact in [*facts, *facts]:  # each told twice (a redelivery under another event id)
        async with delivery.transaction() as session:
            if isinstance(fact, events.BundleCompleted):
                await bundle_readiness.record_completed(session, delivery.outbox, fact)
            else:
                await queue_certificate(session, delivery.outbox, fact)

    ready = await parcel(delivery, bundle_no)
    assert (ready.status, ready.method) == ("awaiting_carrier", "postal")
    # Nothing announced yet, and the single dispatcher posts none of it alone.
    assert await delivery.event_types() == []
    carrier = Carrier()
    await dispatch.dispatch_due(
        delivery.db, delivery.outbox, carrier.client(), telemetry, backoff_seconds=0.1
    )
    assert carrier.requests == []

    # The first answer is lost: the parcel stays, its failure on record; asked again, the same
    # key and body find the same shipment; a third round has nothing to do.
    for _ in range(3):
        await parcels.dispatch_due_parcels(
            delivery.db, delivery.outbox, carrier.client(), telemetry, backoff_seconds=0.1
        )
        async with delivery.transaction() as session:
            row = await session.get(BundleDeliveryRow, bundle_no)
            assert row is not None
            row.next_attempt_at = None  # due at once, not after the backoff
    assert len(carrier.requests) == 2
    assert {r.headers["Idempotency-Key"] for r in carrier.requests} == {bundle_no}
    assert len({r.content for r in carrier.requests}) == 1
    body = json.loads(carrier.requests[0].content)
    assert body["reference"] == bundle_no
    assert sorted(body["contents"]) == sorted(a.certificate_no for a in approvals)
    posted = await parcel(delivery, bundle_no)
    assert (posted.status, posted.tracking_no, posted.attempts) == ("dispatched", "SPPARCEL0001", 2)
    for approval in approvals:
        assert await delivery.event_types(approval.application_no) == [DISPATCHED]

    # The carrier's delivery report, twice: every member delivered once.
    report = CarrierReport(tracking_no="SPPARCEL0001", event="delivered", at=datetime.now(UTC))
    for _ in range(2):
        async with delivery.transaction() as session:
            status, _new = await dispatch.record_carrier_event(
                session, delivery.outbox, report, telemetry
            )
        assert status == "delivered"
    assert (await parcel(delivery, bundle_no)).status == "delivered"
    async with delivery.transaction() as session:
        statuses = set(
            await session.scalars(
                select(PostalDispatchRow.status).where(PostalDispatchRow.bundle_no == bundle_no)
            )
        )
    assert statuses == {"delivered"}
    for approval in approvals:
        assert await delivery.event_types(approval.application_no) == [DISPATCHED, DELIVERED]
