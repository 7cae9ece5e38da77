"""邮政寄递: hand postal dispatches to the carrier, and take the carrier's tracking reports.

The dispatcher (a background loop of delivery, main.py) takes one due `awaiting_carrier` row at
a time with FOR UPDATE SKIP LOCKED, so several delivery processes share the work without
posting a certificate twice, and calls the carrier while it holds the row. On success the row
becomes `dispatched` and CertificateDispatched goes to the outbox in the same transaction; on
failure the row stays `awaiting_carrier` with its attempts, the reason and when to try again.

The carrier's webhook (POST /v1/carrier/events) is signed with HMAC-SHA256 over the raw body;
each (tracking number, event) is taken once, and a late report never moves a delivered
dispatch back.

The address is opened only to build the carrier's request, and never logged.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.delivery.carrier import CarrierClient, CarrierUnavailable
from services.delivery.db import CarrierEventRow, PostalDispatchRow
from services.delivery.domain import retry_after
from services.delivery.schemas import CarrierReport  # the webhook's body IS the command
from services.delivery.usecases import parcels
from services.delivery.usecases.print_jobs import shipment_to
from shared import clock
from shared.crypto.personal import DecryptionFailed
from shared.db import Database, insert_if_absent
from shared.errors import NotFound
from shared.i18n import _
from shared.messaging import events
from shared.messaging.outbox import Outbox
from shared.telemetry import Telemetry
from shared.vocabulary import PostalStatus

log = logging.getLogger(__name__)


async def dispatch_due(
    db: Database,
    outbox: Outbox,
    carrier: CarrierClient,
    telemetry: Telemetry,
    *,
    backoff_seconds: float,
    batch: int = 20,
) -> int:
    """Hand up to `batch` due dispatches to the carrier, each in its own transaction; how many
    were handed (taken or not)."""
    handled = 0
    while handled < batch:
        async with db.transaction() as session:
            row = await session.scalar(
                select(PostalDispatchRow)
                .where(
                    PostalDispatchRow.status == PostalStatus.AWAITING_CARRIER,
                    # 一件事: posted in the bundle's one parcel (parcels.py), never alone.
                    PostalDispatchRow.bundle_no.is_(None),
                    or_(
                        PostalDispatchRow.next_attempt_at.is_(None),
                        PostalDispatchRow.next_attempt_at <= clock.now(),
                    ),
                )
                .order_by(PostalDispatchRow.created_at)
                .limit(1)
                .with_for_update(skip_locked=True)
            )
            if row is None:
                return handled
            await dispatch_one(
                session, outbox, carrier, row, telemetry, backoff_seconds=backoff_seconds
            )
        handled += 1
    return handled


async def dispatch_one(
    session: AsyncSession,
    outbox: Outbox,
    carrier: CarrierClient,
    row: PostalDispatchRow,
    telemetry: Telemetry,
    *,
    backoff_seconds: float,
) -> bool:
    """Call the carrier for `row` (locked by the caller); True if it took the dispatch."""
    try:
        shipment = shipment_to(outbox, row, reference=row.certificate_no)
    except (DecryptionFailed, KeyError, TypeError, ValueError):
        _failed(row, "address_unreadable", backoff_seconds)
        return False
    try:
        accepted = await carrier.create_shipment(shipment, idempotency_key=row.certificate_no)
    except CarrierUnavailable as failed:
        _failed(row, failed.reason, backoff_seconds)
        return False

    now = clock.now()
    row.attempts += 1
    row.status = PostalStatus.DISPATCHED
    row.carrier = carrier.name
    row.tracking_no = accepted.tracking_no
    row.dispatched_at = now
    row.last_error = None
    row.next_attempt_at = None
    # Dispatches queued before the receiving locality was kept: where the parcel goes.
    row.receiving_locality = row.receiving_locality or shipment.locality
    with telemetry.journey_span(
        "postal dispatch",
        row.traceparent,
        attributes={"tongban.application_no": row.application_no},
    ):
        await outbox.add(
            session,
            events.CertificateDispatched(
                application_no=row.application_no,
                certificate_no=row.certificate_no,
                locality=row.receiving_locality,
                carrier=carrier.name,
                tracking_no=accepted.tracking_no,
                dispatched_at=now,
            ),
        )
    log.info("certificate %s dispatched (%s)", row.certificate_no, carrier.name)
    return True


def _failed(row: PostalDispatchRow, reason: str, backoff_seconds: float) -> None:
    row.attempts += 1
    row.last_error = reason[:200]
    wait = retry_after(row.attempts, backoff_seconds)
    row.next_attempt_at = clock.now() + wait
    log.warning(
        "certificate %s not taken by the carrier (%s, attempt %d); next try in %.0f s",
        row.certificate_no,
        reason,
        row.attempts,
        wait.total_seconds(),
    )


# -- the carrier's tracking reports ------------------------------------------------------------


async def record_carrier_event(
    session: AsyncSession, outbox: Outbox, report: CarrierReport, telemetry: Telemetry
) -> tuple[PostalStatus, bool]:
    """Take one tracking report: the dispatch's status after it, and whether the report was new
    (a repeated one changes nothing and announces nothing)."""
    row = await session.scalar(
        select(PostalDispatchRow)
        .where(PostalDispatchRow.tracking_no == report.tracking_no)
        .with_for_update()
    )
    if row is None:
        # 一件事: a bundle's one parcel (its tracking number is the bundle's, not a dispatch's).
        parcel = await parcels.parcel_of(session, report.tracking_no)
        if parcel is None:
            raise NotFound("unknown_tracking_no", _("No dispatch has this tracking number."))
        return await parcels.record_parcel_event(
            session, outbox, parcel, report.event, report.at, telemetry
        )
    new = await insert_if_absent(
        session,
        CarrierEventRow,
        tracking_no=report.tracking_no,
        event=report.event,
        at=report.at,
        received_at=clock.now(),
    )
    if not new or row.status == PostalStatus.DELIVERED:
        # A replay, or a late report after delivery: it stays delivered.
        return PostalStatus(row.status), new
    assert row.receiving_locality is not None  # set when the carrier took it
    with telemetry.journey_span(
        f"carrier {report.event}",
        row.traceparent,
        attributes={"tongban.application_no": row.application_no},
    ):
        if report.event == "delivered":
            row.status, row.delivered_at = PostalStatus.DELIVERED, report.at
            await outbox.add(session, _delivered(row, report.at))
        else:
            row.status = PostalStatus.IN_TRANSIT
            await outbox.add(
                session,
                events.CertificateInTransit(
                    application_no=row.application_no,
                    certificate_no=row.certificate_no,
                    locality=row.receiving_locality,
                    tracking_no=report.tracking_no,
                    carrier_event=report.event,
                    at=report.at,
                ),
            )
    return PostalStatus(row.status), True


def _delivered(row: PostalDispatchRow, at: datetime) -> events.CertificateDelivered:
    assert row.receiving_locality is not None and row.tracking_no is not None
    return events.CertificateDelivered(
        application_no=row.application_no,
        certificate_no=row.certificate_no,
        locality=row.receiving_locality,
        window_id=row.window_id,
        delivered_at=at,
        channel="postal",
        tracking_no=row.tracking_no,
    )
