"""Routing's subscriptions: every accepted application is placed (or found unroutable), its
supplements and its withdrawal (一件事) follow it, a case handed on (移交) is routed again, and
the rules of each catalog version the province publishes become routing's. Apart from these,
the audit ledger reads every event of every topic, in its own consumer group."""

from __future__ import annotations

from services.routing.usecases import ledger, routing, rules
from shared.messaging import events, topics
from shared.messaging.consumer import EventContext
from shared.messaging.readers import LEDGER_READS, expand
from shared.messaging.subscriptions import Subscription
from shared.reference.localities import locality_codes


async def route_application(event: events.ApplicationAccepted, ctx: EventContext) -> None:
    await routing.route_application(ctx.session, ctx.outbox, event)


async def forward_supplement(event: events.ApplicationSupplemented, ctx: EventContext) -> None:
    await routing.forward_supplement(ctx.session, ctx.outbox, event)


async def place_received(event: events.PartnerApplicationReceived, ctx: EventContext) -> None:
    await routing.place_received(ctx.session, ctx.outbox, event)


async def forward_withdrawal(event: events.ApplicationWithdrawn, ctx: EventContext) -> None:
    await routing.forward_withdrawal(ctx.session, ctx.outbox, event)


async def take_catalog(event: events.CatalogPublished, ctx: EventContext) -> None:
    await rules.take_catalog(ctx.session, ctx.outbox, event)


async def transfer_application(event: events.CaseTransferred, ctx: EventContext) -> None:
    await routing.transfer_application(ctx.session, ctx.outbox, event)


SUBSCRIPTION = Subscription(
    name="tongban.routing",
    topics=(topics.INTAKE_EVENTS, topics.APPROVAL_EVENTS, topics.FEDERATION_INCOMING),
    handlers={
        events.ApplicationAccepted: route_application,
        events.PartnerApplicationReceived: place_received,
        events.ApplicationSupplemented: forward_supplement,
        events.ApplicationWithdrawn: forward_withdrawal,
        events.CaseTransferred: transfer_application,
        events.CatalogPublished: take_catalog,
    },
)


LEDGER = "tongban.routing.ledger"


def ledger_topics() -> tuple[str, ...]:
    """Every topic of every channel (each locality's request topic included), except the
    ledger's own checkpoints (shared.messaging.readers.LEDGER_READS says why)."""
    return expand(LEDGER_READS, locality_codes())


def ledger_subscription(
    guard: ledger.TailGuard, schedule: ledger.CheckpointSchedule | None = None
) -> Subscription:
    """The audit ledger's consumer: every event, whatever its type, appended to the chain (in
    the record's transaction, so a batch handled in one transaction locks and reads the head
    once), each with routing's MAC (`guard`). `schedule` hears how far the chain grew, so a
    checkpoint follows every so many entries (services.routing.main)."""

    async def append(_: events.EventPayload, ctx: EventContext) -> None:
        record = ctx.record
        read = ledger.Read(record.topic, record.partition, record.offset, record.value or b"")
        sealed = await ledger.append_to_ledger(ctx.session, ctx.envelope, read, guard)
        if sealed is not None and schedule is not None:
            schedule.appended(ctx.session, sealed.seq)

    return Subscription(name=LEDGER, topics=ledger_topics(), handlers={}, every_type=append)
