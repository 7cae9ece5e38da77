"""Routing's subscription: every accepted application is placed (or found unroutable), its
supplements follow it, a case handed on (移交) is routed again, and the rules of each catalog
version the province publishes become routing's."""

from __future__ import annotations

from services.routing import service
from shared.messaging import events, topics
from shared.messaging.channels import Subscription
from shared.messaging.consumer import EventContext


async def route_application(event: events.ApplicationAccepted, ctx: EventContext) -> None:
    await service.route_application(ctx.session, ctx.outbox, event)


async def forward_supplement(event: events.ApplicationSupplemented, ctx: EventContext) -> None:
    await service.forward_supplement(ctx.session, ctx.outbox, event)


async def take_catalog(event: events.CatalogPublished, ctx: EventContext) -> None:
    await service.take_catalog(ctx.session, ctx.outbox, event)


async def transfer_application(event: events.CaseTransferred, ctx: EventContext) -> None:
    await service.transfer_application(ctx.session, ctx.outbox, event)


SUBSCRIPTION = Subscription(
    name="tongban.routing",
    topics=(topics.INTAKE_EVENTS, topics.APPROVAL_EVENTS),
    handlers={
        events.ApplicationAccepted: route_application,
        events.ApplicationSupplemented: forward_supplement,
        events.CaseTransferred: transfer_application,
        events.CatalogPublished: take_catalog,
    },
)
