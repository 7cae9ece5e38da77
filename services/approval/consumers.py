"""Approval's subscription: a review case for each application routed to a locality it serves,
the supplements handed in for them, their withdrawal (一件事), and the originals of their
materials verified by video (视频核验, tongban.consultation.events) with the calls' recordings."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from services.approval.usecases import cases, decisions, video, withdrawals
from shared.messaging import events, topics
from shared.messaging.consumer import EventContext, Handler
from shared.messaging.subscriptions import Subscription


async def open_case(event: events.ApplicationRouted, ctx: EventContext) -> None:
    await cases.open_case(ctx.session, ctx.outbox, event)


async def receive_supplement(event: events.SupplementRouted, ctx: EventContext) -> None:
    await decisions.receive_supplement(ctx.session, ctx.outbox, event)


async def withdraw(event: events.WithdrawalRouted, ctx: EventContext) -> None:
    await withdrawals.withdraw(ctx.session, ctx.outbox, event)


def verified_by_video(served: Collection[str]) -> Handler:
    async def handle(event: events.MaterialVerifiedByVideo, ctx: EventContext) -> None:
        await video.record_verification(ctx.session, event, served)

    return handle


def recorded(served: Collection[str]) -> Handler:
    async def handle(event: events.ConsultationRecorded, ctx: EventContext) -> None:
        await video.record_recording(ctx.session, event, served)

    return handle


def subscription(localities: Sequence[str], group_id: str) -> Subscription:
    """One instance serves some localities: it reads their request topics, and of the
    province's video consultations those about its localities' applications."""
    served = frozenset(localities)
    return Subscription(
        name="tongban.approval",
        topics=(*topics.approval_request_topics(localities), topics.CONSULTATION_EVENTS),
        handlers={
            events.ApplicationRouted: open_case,
            events.SupplementRouted: receive_supplement,
            events.WithdrawalRouted: withdraw,
            events.MaterialVerifiedByVideo: verified_by_video(served),
            events.ConsultationRecorded: recorded(served),
        },
        group_id=group_id,
    )
