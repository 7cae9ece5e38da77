"""Approval's event handlers: open a review case for each application routed here."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from services.approval.db import CaseRow
from services.approval.domain import Clock
from shared.db import insert_if_absent
from shared.messaging import events, topics
from shared.messaging.consumer import EventContext
from shared.telemetry import current_traceparent

CHINA = ZoneInfo("Asia/Shanghai")


async def open_case(event: events.ApplicationRouted, ctx: EventContext) -> None:
    clock = Clock(event.accepted_at.astimezone(CHINA).date(), event.statutory_days)
    now = datetime.now(UTC)
    traceparent, _ = current_traceparent()
    opened = await insert_if_absent(
        ctx.session,
        CaseRow,
        application_no=event.application_no,
        locality=event.competent_locality,
        department=event.department,
        item_code=event.item_code,
        item_name=event.item_name,
        status="in_review",
        accepted_on=clock.accepted_on,
        working_days=clock.working_days,
        deadline=clock.deadline,
        opened_at=now,
        application=event.model_dump(mode="json"),
        traceparent=traceparent,
    )
    if not opened:
        return  # the same application routed twice under two event ids: one case
    await ctx.publish(
        events.CaseOpened(
            application_no=event.application_no,
            locality=event.competent_locality,
            deadline=clock.deadline,
            opened_at=now,
        ),
        topic=topics.APPROVAL_EVENTS,
    )


HANDLERS = {events.ApplicationRouted.event_type: open_case}
