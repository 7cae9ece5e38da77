"""Delivery's subscription: each approved certificate is queued at its window (or for post)."""

from __future__ import annotations

from services.delivery import service
from shared.messaging import events, topics
from shared.messaging.channels import Subscription
from shared.messaging.consumer import EventContext


async def queue_certificate(event: events.ApplicationApproved, ctx: EventContext) -> None:
    await service.queue_certificate(ctx.session, ctx.outbox, event)


SUBSCRIPTION = Subscription(
    name="tongban.delivery",
    topics=(topics.APPROVAL_EVENTS,),
    handlers={events.ApplicationApproved: queue_certificate},
)
