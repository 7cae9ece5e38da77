"""Delivery's subscriptions: each approved certificate is queued at its window (or for post), and
the sealed documents of the province's registry are kept to print and verify them; each only
from the locality routing made competent for the application, whose facts delivery keeps."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from services.delivery.usecases import (
    bundle_readiness,
    competence,
    documents,
    partner_certificates,
    print_jobs,
    revocations,
)
from shared.federation.cases import from_partner_window
from shared.messaging import events, topics
from shared.messaging.consumer import EventContext
from shared.messaging.subscriptions import Subscription

log = logging.getLogger(__name__)

Event = TypeVar("Event", bound=events.ApplicationEvent)


def from_competent_locality(
    handler: Callable[[Event, EventContext], Awaitable[None]],
) -> Callable[[Event, EventContext], Awaitable[None]]:
    """`handler`, for an event of the locality routing made competent only: another's is
    refused for good, one that comes before routing's fact waits for it (shared.competence)."""

    async def checked(event: Event, ctx: EventContext) -> None:
        await competence.check(ctx.session, event)
        await handler(event, ctx)

    return checked


async def record_transfer(event: events.CaseTransferred, ctx: EventContext) -> None:
    await competence.record_transfer(ctx.session, event)


def partners_case(event: events.ApplicationDecided) -> bool:
    """跨省通办: an application a partner province's window took is decided here, but handed
    over by that province (shared.federation.cases): nothing to print or post here."""
    if not from_partner_window(event.receiving_locality):
        return False
    log.info(
        "delivery: %s was accepted at %s, a partner province's window: not queued here",
        event.application_no,
        event.window_id,
    )
    return True


@from_competent_locality
async def queue_certificate(event: events.ApplicationApproved, ctx: EventContext) -> None:
    if partners_case(event):
        return
    await print_jobs.queue_certificate(ctx.session, ctx.outbox, event)
    await documents.record_receiving_window(ctx.session, event)


# --- the certificate registry (documents.py, revocations.py) --------------------------------------


@from_competent_locality
async def register_document(
    event: events.CertificateIssued | events.RejectionNoticeIssued, ctx: EventContext
) -> None:
    personal = ctx.outbox.personal_data()
    # The seal is checked with the key ring's published keys (current and retired).
    await documents.register_document(ctx.session, personal, personal.ring.public_key, event)


@from_competent_locality
async def revoke_certificate(event: events.CertificateRevoked, ctx: EventContext) -> None:
    # Kept with its signature, which verification checks again.
    await revocations.revoke(ctx.session, event, ctx.envelope)


@from_competent_locality
async def record_rejection_window(event: events.ApplicationRejected, ctx: EventContext) -> None:
    if partners_case(event):
        return
    # Where the notice of the rejection (不予许可决定书) is printed.
    await documents.record_receiving_window(ctx.session, event)


async def record_bundle_completed(event: events.BundleCompleted, ctx: EventContext) -> None:
    # 一件事: the bundle's certificates handed over together once all are here.
    await bundle_readiness.record_completed(ctx.session, ctx.outbox, event)


SUBSCRIPTION = Subscription(
    name="tongban.delivery",
    topics=(topics.APPROVAL_EVENTS, topics.INTAKE_EVENTS),
    handlers={
        events.BundleCompleted: record_bundle_completed,
        events.ApplicationApproved: queue_certificate,
        events.CertificateIssued: register_document,
        events.RejectionNoticeIssued: register_document,
        events.CertificateRevoked: revoke_certificate,
        events.ApplicationRejected: record_rejection_window,
        events.CaseTransferred: record_transfer,
    },
)


async def record_routing_fact(event: events.Routed | events.Transferred, ctx: EventContext) -> None:
    await competence.record_routing_fact(ctx.session, event)


async def record_delivery_expected(event: events.DeliveryExpected, ctx: EventContext) -> None:
    await partner_certificates.record_expected(ctx.session, event)


# In a consumer of their own: an approval event that comes before its routing fact is retried
# while this one takes the fact in.
ROUTING_FACTS = Subscription(
    name="tongban.delivery.routing",
    topics=(topics.ROUTING_EVENTS,),
    handlers={
        events.Routed: record_routing_fact,
        events.Transferred: record_routing_fact,
        events.DeliveryExpected: record_delivery_expected,
    },
)


async def receive_partner_certificate(
    event: events.PartnerCertificateReceived, ctx: EventContext
) -> None:
    await partner_certificates.receive(ctx.session, ctx.outbox, event)


# 跨省通办: a partner province's certificate for an application this province handed over, in
# a consumer of its own: one that comes before routing's DeliveryExpected waits for it.
PARTNER_CERTIFICATES = Subscription(
    name="tongban.delivery.federation",
    topics=(topics.FEDERATION_RESULTS,),
    handlers={events.PartnerCertificateReceived: receive_partner_certificate},
)

SUBSCRIPTIONS = (SUBSCRIPTION, ROUTING_FACTS, PARTNER_CERTIFICATES)
