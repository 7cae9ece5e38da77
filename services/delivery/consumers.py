"""Delivery's event handlers: queue each approved certificate where it will be handed over."""

from __future__ import annotations

from datetime import UTC, datetime

from services.delivery.db import PostalDispatchRow, PrintJobRow
from shared.db import insert_if_absent
from shared.messaging import events, topics
from shared.messaging.consumer import EventContext, PermanentError
from shared.telemetry import current_traceparent


async def queue_certificate(event: events.ApplicationApproved, ctx: EventContext) -> None:
    now = datetime.now(UTC)
    traceparent, _ = current_traceparent()
    if event.delivery.method == "postal":
        if event.delivery.address is None:
            raise PermanentError("postal delivery without an address")
        await insert_if_absent(
            ctx.session,
            PostalDispatchRow,
            certificate_no=event.certificate_no,
            application_no=event.application_no,
            address=event.delivery.address.model_dump(mode="json"),
            status="awaiting_carrier",
            created_at=now,
            traceparent=traceparent,
        )
        return
    queued = await insert_if_absent(
        ctx.session,
        PrintJobRow,
        certificate_no=event.certificate_no,
        application_no=event.application_no,
        window_id=event.window_id,
        locality=event.receiving_locality,
        issuer_locality=event.locality,
        item_code=event.item_code,
        item_name=event.item_name,
        holder_name_masked=event.holder_name_masked,
        holder_id_digest=event.holder_id_digest,
        status="waiting",
        queued_at=now,
        traceparent=traceparent,
    )
    if not queued:
        return
    await ctx.publish(
        events.CertificateReadyForPickup(
            application_no=event.application_no,
            certificate_no=event.certificate_no,
            window_id=event.window_id,
            locality=event.receiving_locality,
            queued_at=now,
        ),
        topic=topics.DELIVERY_EVENTS,
    )


HANDLERS = {events.ApplicationApproved.event_type: queue_certificate}
