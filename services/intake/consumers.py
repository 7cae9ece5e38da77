"""Intake's subscriptions: keep each application's status and timeline current, from the slim
progress events of routing, approval and delivery (none of which carries personal data), and
keep the replica of the certificate registry that applications cite (免证办). Routing's facts
are read by a consumer of their own, since approval's events are checked against them."""

from __future__ import annotations

from services.intake.usecases import bundle_manager, progress
from shared.messaging import events, topics
from shared.messaging.consumer import EventContext
from shared.messaging.subscriptions import Subscription


async def record_progress(event: events.ApplicationEvent, ctx: EventContext) -> None:
    await progress.record_progress(ctx.session, event, ctx.envelope.time)


async def record_partner_result(event: events.PartnerResultReceived, ctx: EventContext) -> None:
    # 跨省通办: listed when it happened in the partner province (its message says when), not
    # when the gateway got it: the partner's approval may come after its certificate, which
    # this province's delivery has already put at the window.
    await progress.record_progress(ctx.session, event, event.occurred_at or ctx.envelope.time)


# 免证办: intake's replica of the certificate registry (the issuer's seal signed each event).
async def record_certificate_issued(event: events.CertificateIssued, ctx: EventContext) -> None:
    await progress.record_certificate_issued(ctx.session, event)
    # 一件事: a sibling waiting for this certificate is released with it cited.
    await bundle_manager.on_certificate_issued(ctx.session, event, ctx.outbox)


async def record_decision(
    event: events.ApplicationApproved | events.ApplicationRejected, ctx: EventContext
) -> None:
    await progress.record_progress(ctx.session, event, ctx.envelope.time)
    # 一件事: the child's decision, and the bundle's state from its children's.
    await bundle_manager.on_decision(ctx.session, event, ctx.outbox)


async def record_resumed(event: events.CaseResumed, ctx: EventContext) -> None:
    await progress.record_progress(ctx.session, event, ctx.envelope.time)
    # 一件事: the paused child's promised date moves, and the bundle's with it.
    await bundle_manager.on_resumed(ctx.session, event)


async def record_withdrawn(event: events.CaseWithdrawn, ctx: EventContext) -> None:
    await progress.record_progress(ctx.session, event, ctx.envelope.time)
    await bundle_manager.on_withdrawn(ctx.session, event)


async def record_transfer(event: events.CaseTransferred, ctx: EventContext) -> None:
    await progress.record_transfer(ctx.session, event)


async def record_certificate_revoked(event: events.CertificateRevoked, ctx: EventContext) -> None:
    await progress.record_certificate_revoked(ctx.session, event)
    await progress.note_revocation(ctx.session, event, ctx.envelope.time)
    await bundle_manager.on_certificate_revoked(ctx.session, event)


_PROGRESS = (
    events.CaseOpened,
    events.CaseSupplementRequested,
    events.CaseDeferredReminder,
    events.RejectionNoticeIssued,
    events.CertificateReadyForPickup,
    events.CertificateDispatched,
    events.CertificateInTransit,
    events.CertificateDelivered,
)


SUBSCRIPTION = Subscription(
    name="tongban.intake.progress",
    topics=(topics.APPROVAL_EVENTS, topics.DELIVERY_EVENTS, topics.FEDERATION_RESULTS),
    handlers={
        **{event: record_progress for event in _PROGRESS},
        # 跨省通办: what the competent partner province reports back.
        events.PartnerResultReceived: record_partner_result,
        events.CaseResumed: record_resumed,
        events.CaseWithdrawn: record_withdrawn,
        events.ApplicationApproved: record_decision,
        events.ApplicationRejected: record_decision,
        events.CertificateIssued: record_certificate_issued,
        events.CertificateRevoked: record_certificate_revoked,
        events.CaseTransferred: record_transfer,
    },
)


# Routing's facts (where each application went, and went on to) in a consumer of their own:
# approval's events count only from the locality they name (shared.competence), and one that
# arrives before its routing fact is retried while this consumer takes the fact in.
ROUTING_FACTS = Subscription(
    name="tongban.intake.routing",
    topics=(topics.ROUTING_EVENTS,),
    handlers={
        events.Routed: record_progress,
        events.Unroutable: record_progress,
        events.Transferred: record_progress,
    },
)


async def record_consultation(event: events.ConsultationEvent, ctx: EventContext) -> None:
    await progress.record_consultation(ctx.session, event, ctx.envelope.time)


# 视频会商 held about an application, and originals verified by video: timeline notes.
CONSULTATIONS = Subscription(
    name="tongban.intake.consultations",
    topics=(topics.CONSULTATION_EVENTS,),
    handlers={
        events.ConsultationEnded: record_consultation,
        events.MaterialVerifiedByVideo: record_consultation,
    },
)

SUBSCRIPTIONS = (SUBSCRIPTION, ROUTING_FACTS, CONSULTATIONS)
