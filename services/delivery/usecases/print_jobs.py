"""Delivery's print queue: each approved certificate queued where it will be handed over (or
posted), and what waits at a clerk's window. Each takes the open transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.delivery.carrier import Shipment
from services.delivery.db import PostalDispatchRow, PrintJobRow
from services.delivery.usecases import bundle_readiness
from shared import clock
from shared.auth import Principal
from shared.crypto.personal import DecryptionFailed, PersonalData, place
from shared.db import insert_if_absent
from shared.errors import Invalid
from shared.messaging import events
from shared.messaging.outbox import Outbox
from shared.pagination import MAX_PAGE, page
from shared.telemetry import current_traceparent
from shared.vocabulary import DeliveryMethod, PostalStatus, PrintJobStatus


def address_place(application_no: str) -> str:
    """Where a dispatch's address is bound (its AAD)."""
    return place("delivery.postal_dispatches.address", application_no)


def postal_address(personal: PersonalData, approved: events.ApplicationApproved) -> dict[str, Any]:
    """The postal address in clear: opened from what approval sealed for delivery (the event's
    own `delivery.address` is masked on the province-wide topic)."""
    if approved.postal_address is not None:
        try:
            clear = personal.unseal(
                approved.postal_address.model_dump(), context=approved.application_no
            )
        except DecryptionFailed as exc:
            raise Invalid.of_field(
                "postal_address_unreadable",
                "The postal address does not open for delivery.",
                "postal_address",
            ) from exc
        return events.PostalAddress.model_validate(clear).model_dump(mode="json")
    if approved.delivery.address is None or approved.delivery.address.line == events.MASKED_LINE:
        raise Invalid.of_field(
            "postal_address_missing", "Postal delivery without an address.", "delivery"
        )
    return approved.delivery.address.model_dump(mode="json")  # sent before addresses were sealed


async def queue_certificate(
    session: AsyncSession, outbox: Outbox, approved: events.ApplicationApproved
) -> None:
    now = clock.now()
    traceparent, _ = current_traceparent()
    if approved.bundle_no is not None:
        # Both the certificate and the bundle's completion take the bundle's lock first.
        await bundle_readiness.lock_bundle(session, approved.bundle_no)
    if approved.delivery.method == DeliveryMethod.POSTAL:
        personal = outbox.personal_data()
        address = postal_address(personal, approved)
        posted = await insert_if_absent(
            session,
            PostalDispatchRow,
            certificate_no=approved.certificate_no,
            application_no=approved.application_no,
            address=personal.encrypt_json(address, where=address_place(approved.application_no)),
            status=PostalStatus.AWAITING_CARRIER,
            created_at=now,
            traceparent=traceparent,
            # For the dispatch's tracking events (services/delivery/usecases/dispatch.py).
            receiving_locality=approved.receiving_locality,
            window_id=approved.window_id,
            item_code=approved.item_code,
            # 一件事: held for the bundle's one parcel (usecases/parcels.py).
            bundle_no=approved.bundle_no,
        )
        if posted and approved.bundle_no is not None:
            await bundle_readiness.make_ready(session, outbox, approved.bundle_no)
        return
    queued = await insert_if_absent(
        session,
        PrintJobRow,
        certificate_no=approved.certificate_no,
        application_no=approved.application_no,
        window_id=approved.window_id,
        locality=approved.receiving_locality,
        issuer_locality=approved.locality,
        item_code=approved.item_code,
        item_name=approved.item_name,
        holder_name_masked=approved.holder_name_masked,
        holder_id_digest=approved.holder_id_digest,
        agent_id_digest=approved.agent_id_digest,
        agent_name_masked=approved.agent_name_masked,
        status=PrintJobStatus.WAITING,
        queued_at=now,
        traceparent=traceparent,
        bundle_no=approved.bundle_no,
    )
    if not queued:
        return  # the same approval announced twice: one job, announced once
    if approved.bundle_no is not None:
        # 一件事: announced with its siblings once the bundle is ready (bundle_readiness.py).
        await bundle_readiness.make_ready(session, outbox, approved.bundle_no)
        return
    await outbox.add(
        session,
        events.CertificateReadyForPickup(
            application_no=approved.application_no,
            certificate_no=approved.certificate_no,
            window_id=approved.window_id,
            locality=approved.receiving_locality,
            queued_at=now,
        ),
    )


@dataclass(frozen=True)
class PrintJob:
    """A certificate waiting at (or handed over from) its window, as the window sees it."""

    certificate_no: str
    application_no: str
    window_id: str
    item_code: str
    item_name: str
    issuer_locality: str
    holder_name_masked: str
    # 委托代办: the agent who may collect instead of the applicant, masked.
    agent_name_masked: str | None
    status: PrintJobStatus
    queued_at: datetime
    delivered_at: datetime | None
    collected_by: str | None


def print_job_of(row: PrintJobRow) -> PrintJob:
    return PrintJob(
        certificate_no=row.certificate_no,
        application_no=row.application_no,
        window_id=row.window_id,
        item_code=row.item_code,
        item_name=row.item_name,
        issuer_locality=row.issuer_locality,
        holder_name_masked=row.holder_name_masked,
        agent_name_masked=row.agent_name_masked,
        status=PrintJobStatus(row.status),
        queued_at=row.queued_at,
        delivered_at=row.delivered_at,
        collected_by=row.collected_by,
    )


async def print_queue(
    session: AsyncSession, clerk: Principal, *, limit: int = MAX_PAGE, cursor: str | None = None
) -> tuple[list[PrintJob], str | None]:
    """What waits at the clerk's window, the longest-waiting first, a page at a time."""
    query = select(PrintJobRow).where(
        PrintJobRow.window_id == clerk.window_id,
        PrintJobRow.status == PrintJobStatus.WAITING,
        PrintJobRow.bundle_no.is_(None),  # a bundle's certificates: one job of their own
    )
    keys = [PrintJobRow.queued_at, PrintJobRow.certificate_no]
    rows, next_cursor = await page(session, query, keys, limit=limit, cursor=cursor)
    return [print_job_of(row) for row in rows], next_cursor


def shipment_to(
    outbox: Outbox,
    row: PostalDispatchRow,
    *,
    reference: str,
    contents: tuple[str, ...] = (),
) -> Shipment:
    """The shipment to the address `row` keeps sealed (a bundle's parcel: its first member's);
    DecryptionFailed, KeyError, TypeError or ValueError when the address cannot be read."""
    address = outbox.personal_data().decrypt_json(
        row.address, where=address_place(row.application_no)
    )
    return Shipment(
        reference=reference,
        recipient=str(address["recipient"]),
        phone=str(address["phone"]),
        line=str(address["line"]),
        locality=str(address["locality"]),
        contents=contents,
    )
