"""Delivery's subscription: each approved certificate is queued at its window (or for post), and
the sealed documents of the province's registry are kept to print and verify them."""

from __future__ import annotations

from services.delivery import documents, service
from shared.messaging import events, topics
from shared.messaging.channels import Subscription
from shared.messaging.consumer import EventContext


async def queue_certificate(event: events.ApplicationApproved, ctx: EventContext) -> None:
    await service.queue_certificate(ctx.session, ctx.outbox, event)
    await documents.record_receiving_window(ctx.session, event)


# --- the certificate registry (documents.py) --------------------------------------------------


async def register_document(
    event: events.CertificateIssued | events.RejectionNoticeIssued, ctx: EventContext
) -> None:
    personal = ctx.outbox.personal_data()
    # The seal is checked with the key ring's published keys (current and retired).
    await documents.register_document(ctx.session, personal, personal.ring.public_key, event)


async def revoke_certificate(event: events.CertificateRevoked, ctx: EventContext) -> None:
    # Kept with its signature, which verification checks again.
    await documents.revoke(ctx.session, event, ctx.envelope)


async def record_rejection_window(event: events.ApplicationRejected, ctx: EventContext) -> None:
    # Where the notice of the rejection (不予许可决定书) is printed.
    await documents.record_receiving_window(ctx.session, event)


SUBSCRIPTION = Subscription(
    name="tongban.delivery",
    topics=(topics.APPROVAL_EVENTS,),
    handlers={
        events.ApplicationApproved: queue_certificate,
        events.CertificateIssued: register_document,
        events.RejectionNoticeIssued: register_document,
        events.CertificateRevoked: revoke_certificate,
        events.ApplicationRejected: record_rejection_window,
    },
)
