"""Intake's event handlers: keep each application's status and timeline current."""

from __future__ import annotations

from services.intake import service
from shared.messaging import events
from shared.messaging.consumer import EventContext, PermanentError
from shared.messaging.topics import APPROVAL_EVENTS, DELIVERY_EVENTS, approval_request_topics
from shared.reference.localities import locality_codes


async def record_progress(event: events.EventPayload, ctx: EventContext) -> None:
    try:
        await service.record_progress(ctx.session, event.application_no, ctx.envelope.time, event)
    except LookupError as exc:
        raise PermanentError(str(exc)) from exc


PROGRESS_EVENTS = (
    events.ApplicationRouted,
    events.CaseOpened,
    events.ApplicationApproved,
    events.ApplicationRejected,
    events.CertificateReadyForPickup,
    events.CertificateDelivered,
)
HANDLERS = {event.event_type: record_progress for event in PROGRESS_EVENTS}


def progress_topics() -> list[str]:
    # `routed` is only visible on the locality topics, so intake reads those too.
    return [*approval_request_topics(locality_codes()), APPROVAL_EVENTS, DELIVERY_EVENTS]
