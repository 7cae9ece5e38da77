"""The portal's subscription: the facts of an application its applicant hears of by SMS, read
from the province-wide topics (approval's and delivery's events; never the 253 per-locality
request topics), each turned into one notification row (services/portal/notifications).

Whose phone: an application the portal handed in (it knows the applicant from the submission),
or one decided for a registered resident (a decision carries the holder's keyed ID digest, the
same digest the registry of residents is looked up by). Any other application is none of the
portal's business and its facts are skipped.

The acceptance is not read from intake's events: they carry the applicant masked (sealed for
routing), and the portal learns of its own online acceptances first-hand, from intake's answer
(store.record_submission). A window application is known from its decision on.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert

from services.portal.db import RejectionNoticeRow
from services.portal.notifications import store
from services.portal.notifications.texts import SMS_LOCALE, UNKNOWN_NOTICE, Fact, listing, shortened
from services.portal.residents import Residents
from shared import clock
from shared.i18n import translate
from shared.messaging import events, topics
from shared.messaging.consumer import EventContext
from shared.messaging.subscriptions import Subscription
from shared.reference.catalog import get_item
from shared.reference.windows import window_registry

NAME = "tongban.portal"
# A fact read later than this after it happened is not texted: news that late is no news (the
# application's page has it), and the first start of a portal, which reads the topics' whole
# history, must not text every registered resident about every decision of the past.
NOTIFY_WITHIN = timedelta(days=3)

Event = TypeVar("Event", bound=events.ApplicationEvent)


def recent(
    handler: Callable[[Event, EventContext], Awaitable[None]],
) -> Callable[[Event, EventContext], Awaitable[None]]:
    async def checked(event: Event, ctx: EventContext) -> None:
        if ctx.envelope.time >= datetime.now(UTC) - NOTIFY_WITHIN:
            await handler(event, ctx)

    return checked


def material_names(item_code: str, codes: list[str]) -> list[str]:
    """The catalog's names of an item's materials; a code the catalog lacks stays a code."""
    item = get_item(item_code)
    names = {m.material_code: m.name for m in item.materials} if item is not None else {}
    return [names.get(code, code) for code in codes]


def subscription(residents: Residents, windows_file: str | None = None) -> Subscription:
    """The handlers, with the registry of residents (whose window applications may be
    notified) and the registry of windows (where a result waits)."""

    @recent
    async def supplement_requested(
        event: events.CaseSupplementRequested, ctx: EventContext
    ) -> None:
        to = await store.known(ctx.session, event.application_no)
        if to is None:
            return
        materials = listing(material_names(to.item_code, event.materials))
        params = {"materials": materials, "reason": shortened(event.reason)}
        # A case may ask for supplements more than once: each request is its own fact.
        await store.notify(
            ctx.session, to, Fact.SUPPLEMENT_REQUESTED, params, repeat=_at(event.requested_at)
        )

    @recent
    async def deferred_due(event: events.CaseDeferredReminder, ctx: EventContext) -> None:
        to = await store.known(ctx.session, event.application_no)
        if to is None:
            return
        params = {
            "materials": listing(material_names(to.item_code, event.materials)),
            "due_on": event.due_on.isoformat(),
        }
        await store.notify(
            ctx.session, to, Fact.DEFERRED_DUE, params, repeat=_at(event.reminded_at)
        )

    async def decided_for(
        event: events.ApplicationDecided, ctx: EventContext
    ) -> store.Known | None:
        """The applicant to notify of a decision: the portal's own, or a registered
        resident's window application, known from now on."""
        to = await store.known(ctx.session, event.application_no)
        if to is not None or residents.find(event.holder_id_digest) is None:
            return to
        return await store.know(
            ctx.session, event.application_no, event.holder_id_digest, event.item_code, store.WINDOW
        )

    @recent
    async def approved(event: events.ApplicationApproved, ctx: EventContext) -> None:
        to = await decided_for(event, ctx)
        if event.bundle_no is not None:
            return  # 一件事: one text when the whole bundle waits at the window or is posted
        if to is not None:
            params = {"item": event.item_name, "certificate_no": event.certificate_no}
            await store.notify(ctx.session, to, Fact.APPROVED, params)

    async def notice_issued(event: events.RejectionNoticeIssued, ctx: EventContext) -> None:
        # Announced just before the rejection, on the same key: kept until the rejection reads
        # it, whoever's application it is (a window application is known from the rejection).
        await ctx.session.execute(
            insert(RejectionNoticeRow)
            .values(
                application_no=event.application_no,
                notice_no=event.notice_no,
                issued_at=clock.now(),
            )
            .on_conflict_do_update(
                index_elements=[RejectionNoticeRow.application_no],
                set_={"notice_no": event.notice_no},
            )
        )

    @recent
    async def rejected(event: events.ApplicationRejected, ctx: EventContext) -> None:
        notice_no = await ctx.session.scalar(
            select(RejectionNoticeRow.notice_no).where(
                RejectionNoticeRow.application_no == event.application_no
            )
        )
        await ctx.session.execute(
            delete(RejectionNoticeRow).where(
                RejectionNoticeRow.application_no == event.application_no
            )
        )
        to = await decided_for(event, ctx)
        if to is not None:
            cited = notice_no or translate(UNKNOWN_NOTICE, SMS_LOCALE)
            await store.notify(ctx.session, to, Fact.REJECTED, {"notice_no": cited})

    @recent
    async def ready_for_pickup(event: events.CertificateReadyForPickup, ctx: EventContext) -> None:
        to = await store.known(ctx.session, event.application_no)
        if to is None:
            return
        window = window_registry(windows_file).get(event.window_id)
        where = window.name if window is not None and window.name else event.window_id
        if event.bundle_no is not None:
            # 一件事: every child's certificate is ready at once; one text for the bundle.
            bundle = store.Known(event.bundle_no, to.id_digest, to.item_code)
            await store.notify(ctx.session, bundle, Fact.BUNDLE_READY, {"window": where})
            return
        await store.notify(
            ctx.session, to, Fact.READY_FOR_PICKUP, {"window": where}, repeat=event.certificate_no
        )

    @recent
    async def dispatched(event: events.CertificateDispatched, ctx: EventContext) -> None:
        to = await store.known(ctx.session, event.application_no)
        if to is None:
            return
        params = {"carrier": event.carrier, "tracking_no": event.tracking_no}
        if event.bundle_no is not None:
            # 一件事: every child's certificate in one parcel; one text for the bundle.
            bundle = store.Known(event.bundle_no, to.id_digest, to.item_code)
            await store.notify(
                ctx.session, bundle, Fact.BUNDLE_DISPATCHED, params, repeat=event.tracking_no
            )
            return
        # Posted again after a failed delivery: a new tracking number, a new text.
        await store.notify(ctx.session, to, Fact.DISPATCHED, params, repeat=event.tracking_no)

    @recent
    async def delivered(event: events.CertificateDelivered, ctx: EventContext) -> None:
        to = await store.known(ctx.session, event.application_no)
        if to is not None and event.bundle_no is not None:
            bundle = store.Known(event.bundle_no, to.id_digest, to.item_code)
            await store.notify(ctx.session, bundle, Fact.BUNDLE_DELIVERED, {})
        elif to is not None:
            await store.notify(ctx.session, to, Fact.DELIVERED, {}, repeat=event.certificate_no)

    return Subscription(
        name=NAME,
        topics=(topics.APPROVAL_EVENTS, topics.DELIVERY_EVENTS),
        handlers={
            events.CaseSupplementRequested: supplement_requested,
            events.CaseDeferredReminder: deferred_due,
            events.ApplicationApproved: approved,
            events.RejectionNoticeIssued: notice_issued,
            events.ApplicationRejected: rejected,
            events.CertificateReadyForPickup: ready_for_pickup,
            events.CertificateDispatched: dispatched,
            events.CertificateDelivered: delivered,
        },
    )


def _at(moment: datetime) -> str:
    """A timestamp as a repeat key: the same instant whatever offset it was written with."""
    return moment.astimezone(UTC).isoformat()
