"""Approval's subscription: a review case for each application routed to a locality it serves,
the supplements handed in for them, and their withdrawal (一件事)."""

from __future__ import annotations

from collections.abc import Sequence

from services.approval.usecases import cases, decisions, withdrawals
from shared.messaging import events, topics
from shared.messaging.consumer import EventContext
from shared.messaging.subscriptions import Subscription


async def open_case(event: events.ApplicationRouted, ctx: EventContext) -> None:
    await cases.open_case(ctx.session, ctx.outbox, event)


async def receive_supplement(event: events.SupplementRouted, ctx: EventContext) -> None:
    await decisions.receive_supplement(ctx.session, ctx.outbox, event)


async def withdraw(event: events.WithdrawalRouted, ctx: EventContext) -> None:
    await withdrawals.withdraw(ctx.session, ctx.outbox, event)


def subscription(localities: Sequence[str], group_id: str) -> Subscription:
    """One instance serves some localities: it reads their request topics only."""
    return Subscription(
        name="tongban.approval",
        topics=tuple(topics.approval_request_topics(localities)),
        handlers={
            events.ApplicationRouted: open_case,
            events.SupplementRouted: receive_supplement,
            events.WithdrawalRouted: withdraw,
        },
        group_id=group_id,
    )
