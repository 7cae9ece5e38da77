"""一件事, one parcel: a postal bundle's certificates posted together. Once the bundle is ready
(bundle_readiness.py: complete, and every approved member's dispatch held for it), the bundle's
delivery row is the parcel: the dispatcher hands it to the carrier as ONE shipment (the bundle's
number its reference and Idempotency-Key, the certificates it holds listed), and the carrier's
one tracking number is recorded on it and on each member's dispatch, each member's timeline
told (CertificateDispatched with `bundle_no`). The carrier's reports of that tracking number
move the parcel and every member together (CertificateInTransit, CertificateDelivered).

Exactly once as a single dispatch is (dispatch.py): the row is taken FOR UPDATE SKIP LOCKED,
the carrier asked under the same key however often (a lost answer finds the same shipment),
the status and the events written in one transaction; a report is taken once per (tracking
number, event). The address is the members' (one delivery for the whole bundle), opened only to
build the carrier's request.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.delivery.carrier import CarrierClient, CarrierUnavailable
from services.delivery.db import BundleDeliveryRow, CarrierEventRow, PostalDispatchRow
from services.delivery.domain import retry_after
from services.delivery.usecases.print_jobs import shipment_to
from shared import clock
from shared.crypto.personal import DecryptionFailed
from shared.db import Database, insert_if_absent
from shared.messaging import events
from shared.messaging.outbox import Outbox
from shared.telemetry import Telemetry
from shared.vocabulary import PostalStatus

log = logging.getLogger(__name__)


async def dispatch_due_parcels(
    db: Database,
    outbox: Outbox,
    carrier: CarrierClient,
    telemetry: Telemetry,
    *,
    backoff_seconds: float,
    batch: int = 20,
) -> int:
    """Hand up to `batch` due parcels to the carrier, each in its own transaction; how many
    were handed (taken or not)."""
    handled = 0
    while handled < batch:
        async with db.transaction() as session:
            parcel = await session.scalar(
                select(BundleDeliveryRow)
                .where(
                    BundleDeliveryRow.status == PostalStatus.AWAITING_CARRIER,
                    or_(
                        BundleDeliveryRow.next_attempt_at.is_(None),
                        BundleDeliveryRow.next_attempt_at <= clock.now(),
                    ),
                )
                .order_by(BundleDeliveryRow.ready_at)
                .limit(1)
                .with_for_update(skip_locked=True)
            )
            if parcel is None:
                return handled
            await dispatch_parcel(
                session, outbox, carrier, parcel, telemetry, backoff_seconds=backoff_seconds
            )
        handled += 1
    return handled


async def members_of(session: AsyncSession, parcel: BundleDeliveryRow) -> list[PostalDispatchRow]:
    """The members' dispatches the parcel carries, locked, in a stable order."""
    return list(
        (
            await session.scalars(
                select(PostalDispatchRow)
                .where(PostalDispatchRow.bundle_no == parcel.bundle_no)
                .order_by(PostalDispatchRow.application_no)
                .with_for_update()
            )
        ).all()
    )


async def dispatch_parcel(
    session: AsyncSession,
    outbox: Outbox,
    carrier: CarrierClient,
    parcel: BundleDeliveryRow,
    telemetry: Telemetry,
    *,
    backoff_seconds: float,
) -> bool:
    """Call the carrier for the parcel (locked by the caller); True if it took it."""
    members = await members_of(session, parcel)
    try:
        shipment = shipment_to(
            outbox,
            members[0],
            reference=parcel.bundle_no,
            contents=tuple(member.certificate_no for member in members),
        )
    except (DecryptionFailed, IndexError, KeyError, TypeError, ValueError):
        _failed(parcel, "address_unreadable", backoff_seconds)
        return False
    try:
        accepted = await carrier.create_shipment(shipment, idempotency_key=parcel.bundle_no)
    except CarrierUnavailable as failed:
        _failed(parcel, failed.reason, backoff_seconds)
        return False

    now = clock.now()
    parcel.attempts += 1
    parcel.status = PostalStatus.DISPATCHED
    parcel.carrier, parcel.tracking_no = carrier.name, accepted.tracking_no
    parcel.dispatched_at, parcel.last_error, parcel.next_attempt_at = now, None, None
    for member in members:
        member.status, member.carrier, member.dispatched_at = (
            PostalStatus.DISPATCHED,
            carrier.name,
            now,
        )
        member.attempts += 1
        member.receiving_locality = member.receiving_locality or parcel.locality
        with telemetry.journey_span(
            "postal dispatch",
            member.traceparent,
            attributes={"tongban.application_no": member.application_no},
        ):
            await outbox.add(
                session,
                events.CertificateDispatched(
                    application_no=member.application_no,
                    certificate_no=member.certificate_no,
                    locality=member.receiving_locality,
                    carrier=carrier.name,
                    tracking_no=accepted.tracking_no,
                    dispatched_at=now,
                    bundle_no=parcel.bundle_no,
                ),
            )
    log.info(
        "bundle %s dispatched in one parcel of %d (%s)",
        parcel.bundle_no,
        len(members),
        carrier.name,
    )
    return True


def _failed(parcel: BundleDeliveryRow, reason: str, backoff_seconds: float) -> None:
    parcel.attempts += 1
    parcel.last_error = reason[:200]
    wait = retry_after(parcel.attempts, backoff_seconds)
    parcel.next_attempt_at = clock.now() + wait
    log.warning(
        "bundle %s's parcel not taken by the carrier (%s, attempt %d); next try in %.0f s",
        parcel.bundle_no,
        reason,
        parcel.attempts,
        wait.total_seconds(),
    )


# -- the carrier's tracking reports of a parcel --------------------------------------------------


async def parcel_of(session: AsyncSession, tracking_no: str) -> BundleDeliveryRow | None:
    return await session.scalar(
        select(BundleDeliveryRow)
        .where(BundleDeliveryRow.tracking_no == tracking_no)
        .with_for_update()
    )


async def record_parcel_event(
    session: AsyncSession,
    outbox: Outbox,
    parcel: BundleDeliveryRow,
    event: str,
    at: datetime,
    telemetry: Telemetry,
) -> tuple[PostalStatus, bool]:
    """Take one tracking report (`event` at `at`) of a parcel (locked; the report's command
    is dispatch.record_carrier_event's): the parcel and every member it carries move together,
    each member's timeline told; a repeated report changes nothing, and a delivered parcel
    stays delivered."""
    assert parcel.tracking_no is not None
    new = await insert_if_absent(
        session,
        CarrierEventRow,
        tracking_no=parcel.tracking_no,
        event=event,
        at=at,
        received_at=clock.now(),
    )
    if not new or parcel.status == PostalStatus.DELIVERED:
        return PostalStatus(parcel.status), new
    delivered = event == "delivered"
    if delivered:
        parcel.status, parcel.delivered_at = PostalStatus.DELIVERED, at
    else:
        parcel.status = PostalStatus.IN_TRANSIT
    for member in await members_of(session, parcel):
        with telemetry.journey_span(
            f"carrier {event}",
            member.traceparent,
            attributes={"tongban.application_no": member.application_no},
        ):
            await outbox.add(session, _member_event(parcel, member, event, at))
        if delivered:
            member.status, member.delivered_at = PostalStatus.DELIVERED, at
        else:
            member.status = PostalStatus.IN_TRANSIT
    return PostalStatus(parcel.status), True


def _member_event(
    parcel: BundleDeliveryRow, member: PostalDispatchRow, event: str, at: datetime
) -> events.CertificateDelivered | events.CertificateInTransit:
    # Both set when the carrier took the parcel.
    assert member.receiving_locality is not None and parcel.tracking_no is not None
    if event == "delivered":
        return events.CertificateDelivered(
            application_no=member.application_no,
            certificate_no=member.certificate_no,
            locality=member.receiving_locality,
            window_id=member.window_id,
            delivered_at=at,
            channel="postal",
            tracking_no=parcel.tracking_no,
            bundle_no=parcel.bundle_no,
        )
    return events.CertificateInTransit(
        application_no=member.application_no,
        certificate_no=member.certificate_no,
        locality=member.receiving_locality,
        tracking_no=parcel.tracking_no,
        carrier_event="picked_up" if event == "picked_up" else "in_transit",
        at=at,
        bundle_no=parcel.bundle_no,
    )
