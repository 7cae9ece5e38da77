"""Routing's subscription: every accepted application is placed (or found unroutable)."""

from __future__ import annotations

from services.routing import service
from shared.messaging import events, topics
from shared.messaging.channels import Subscription
from shared.messaging.consumer import EventContext


async def route_application(event: events.ApplicationAccepted, ctx: EventContext) -> None:
    await service.route_application(ctx.session, ctx.outbox, event)


SUBSCRIPTION = Subscription(
    name="tongban.routing",
    topics=(topics.INTAKE_EVENTS,),
    handlers={events.ApplicationAccepted: route_application},
)
