"""Routing's event handlers: hand each accepted application to its competent locality."""

from __future__ import annotations

from datetime import UTC, datetime

from services.routing.db import RoutedApplicationRow
from shared.db import insert_if_absent
from shared.messaging.consumer import EventContext, PermanentError
from shared.messaging.events import ApplicationAccepted, ApplicationRouted
from shared.messaging.topics import approval_requests
from shared.reference.localities import is_known_locality


async def route_application(event: ApplicationAccepted, ctx: EventContext) -> None:
    if not is_known_locality(event.competent_locality):
        raise PermanentError(f"competent locality {event.competent_locality} has no approval topic")
    topic = approval_requests(event.competent_locality)
    routed_at = datetime.now(UTC)
    first_time = await insert_if_absent(
        ctx.session,
        RoutedApplicationRow,
        application_no=event.application_no,
        item_code=event.item_code,
        competent_locality=event.competent_locality,
        topic=topic,
        routed_at=routed_at,
    )
    if not first_time:
        return  # routed already (the same application announced twice under two event ids)
    routed = ApplicationRouted(**event.model_dump(), routed_at=routed_at)
    await ctx.publish(routed, topic=topic)


HANDLERS = {ApplicationAccepted.event_type: route_application}
