"""Intake's subscription: keep each application's status and timeline current, from the slim
progress events of routing, approval and delivery (none of which carries personal data)."""

from __future__ import annotations

from services.intake import service
from shared.messaging import events, topics
from shared.messaging.channels import Subscription
from shared.messaging.consumer import EventContext


async def record_progress(event: events.ApplicationEvent, ctx: EventContext) -> None:
    await service.record_progress(ctx.session, event, ctx.envelope.time)


SUBSCRIPTION = Subscription(
    name="tongban.intake.progress",
    topics=(topics.ROUTING_EVENTS, topics.APPROVAL_EVENTS, topics.DELIVERY_EVENTS),
    handlers={
        event: record_progress
        for event in (
            events.Routed,
            events.Unroutable,
            events.Transferred,
            events.CaseOpened,
            events.CaseSupplementRequested,
            events.CaseResumed,
            events.CaseDeferredReminder,
            events.ApplicationApproved,
            events.ApplicationRejected,
            events.CertificateReadyForPickup,
            events.CertificateDelivered,
        )
    },
)
