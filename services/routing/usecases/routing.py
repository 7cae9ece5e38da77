"""Where an application goes: who is competent (asked over HTTP), an accepted application
placed with its competent locality or found unroutable, its supplements forwarded, and a case
handed on (移交) routed again."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from services.routing import domain
from services.routing.db import JurisdictionRuleRow, RoutedApplicationRow
from services.routing.usecases.delivery_expected import delivery_expected
from services.routing.usecases.rules import rule_book
from shared import clock
from shared.auth import Principal
from shared.crypto.personal import DecryptionFailed, PersonalData, place
from shared.db import insert_if_absent
from shared.errors import Forbidden, Invalid, NotFound
from shared.federation.agreements import AGREEMENTS
from shared.i18n import _
from shared.jurisdiction import JurisdictionError, Resolution
from shared.messaging import events, topics
from shared.messaging.outbox import Outbox
from shared.reference.catalog import get_item
from shared.reference.localities import PROVINCE, is_known_locality
from shared.vocabulary import UnroutableReason


@dataclass(frozen=True)
class Resolve:
    """Query: who is competent, and (optionally) what a receiving locality's windows may do."""

    item_code: str
    applicant_locality: str
    property_locality: str | None
    receiving_locality: str | None
    asker: Principal


async def resolve(session: AsyncSession, query: Resolve) -> Resolution:
    asker = query.asker
    if (
        asker.role == "window_clerk"
        and query.receiving_locality
        and query.receiving_locality != asker.locality
    ):
        raise Forbidden("not_your_locality", _("A window asks only about its own rights."))
    book = await rule_book(session, query.item_code, query.receiving_locality)
    try:
        resolution = book.resolve(
            item_code=query.item_code,
            applicant_locality=query.applicant_locality,
            property_locality=query.property_locality,
            receiving_locality=query.receiving_locality or "",
            at=clock.now(),
        )
    except JurisdictionError as problem:
        raise Invalid.of_field(problem.code, problem.translated(), problem.field) from problem
    if resolution is None:
        raise Invalid.of_field(
            "unknown_item",
            _("No catalog item {item_code}.", item_code=query.item_code),
            "item_code",
        )
    return resolution


async def route_application(
    session: AsyncSession, outbox: Outbox, accepted: events.ApplicationAccepted
) -> None:
    """Hand an accepted application to its competent locality, or record why it cannot go.

    The same application announced twice (under two event ids, which the inbox cannot catch)
    gets one verdict and one set of events. The personal data comes sealed for routing (the
    event's own fields are masked on the province-wide topic): it is opened here, stored
    encrypted, and handed in clear to the competent locality's own topic only.
    """
    personal = outbox.personal_data()
    accepted = open_accepted(personal, accepted)
    await _place(session, outbox, personal, accepted)


async def place_received(
    session: AsyncSession, outbox: Outbox, received: events.PartnerApplicationReceived
) -> None:
    """代收: an application a partner province's window accepted for this province, placed like
    one accepted here, under this province's item of the same national code (the partner's own
    item code means nothing here); an item this province does not know is unroutable."""
    item_code = AGREEMENTS.item_code_of(received.national_code)
    item = get_item(item_code) if item_code else None
    fields = received.model_dump(
        exclude={"from_province", "national_code", "message_id", "received_at"}
    )
    accepted = events.ApplicationAccepted.model_validate(
        {
            **fields,
            "item_code": item.item_code if item else received.item_code,
            "item_name": item.name if item else received.item_name,
        }
    )
    await _place(session, outbox, outbox.personal_data(), accepted, received=True)


async def _place(
    session: AsyncSession,
    outbox: Outbox,
    personal: PersonalData,
    accepted: events.ApplicationAccepted,
    *,
    received: bool = False,
) -> None:
    book = await rule_book(session, accepted.item_code, accepted.receiving_locality)
    verdict = domain.place(
        book,
        item_code=accepted.item_code,
        applicant_locality=accepted.applicant.locality,
        property_locality=accepted.property_locality,
        receiving_locality=accepted.receiving_locality,
        accepted_at=accepted.accepted_at,
    )
    if (
        received
        and isinstance(verdict, domain.Placed)
        and verdict.competent_locality[:2] != PROVINCE[:2]
    ):
        # A partner's application this province is not competent for goes nowhere else.
        verdict = domain.NotPlaced(
            UnroutableReason.UNKNOWN_LOCALITY,
            f"Received from another province, but {verdict.competent_locality} decides it.",
        )
    now = clock.now()
    if isinstance(verdict, domain.NotPlaced):
        first_time = await insert_if_absent(
            session,
            RoutedApplicationRow,
            application_no=accepted.application_no,
            item_code=accepted.item_code,
            outcome="unroutable",
            reason=verdict.reason,
            note=verdict.message,
            routed_at=now,
        )
        if first_time:
            unroutable = events.Unroutable(
                application_no=accepted.application_no,
                reason=verdict.reason,
                message=verdict.message,
                receiving_locality=accepted.receiving_locality,
                decided_at=now,
            )
            await outbox.add(session, unroutable)
        return

    if verdict.competent_locality[:2] != PROVINCE[:2]:
        await hand_over(session, outbox, personal, accepted, verdict)
        return
    topic = topics.approval_requests(verdict.competent_locality)
    if not await _record_placed(session, personal, accepted, verdict, "routed", topic, now):
        return
    routed = events.ApplicationRouted.model_validate(
        {
            **accepted.model_dump(),
            "competent_locality": verdict.competent_locality,
            "department": verdict.department,
            "routed_at": now,
        }
    )
    await outbox.add(session, routed)
    await outbox.add(session, _routed_notice(accepted, verdict, now))


async def hand_over(
    session: AsyncSession,
    outbox: Outbox,
    personal: PersonalData,
    accepted: events.ApplicationAccepted,
    verdict: domain.Placed,
) -> None:
    """异地代收代办: the competent locality is a partner province's, so the whole application
    goes to this province's federation gateway (tongban.federation.outgoing), once, with the
    item's national code; `Routed` tells the timeline where it went."""
    now = clock.now()
    outgoing = topics.FEDERATION_OUTGOING
    if not await _record_placed(session, personal, accepted, verdict, "handed_over", outgoing, now):
        return
    handed = events.ApplicationHandedOver.model_validate(
        {
            **accepted.model_dump(),
            "competent_locality": verdict.competent_locality,
            "department": verdict.department,
            "partner_province": verdict.competent_locality[:2],
            "national_code": AGREEMENTS.national_code(accepted.item_code) or accepted.item_code,
            "routed_at": now,
        }
    )
    await outbox.add(session, handed)
    await outbox.add(session, _routed_notice(accepted, verdict, now))
    # What delivery needs when the partner's certificate comes back (sealed for it).
    await outbox.add(
        session, delivery_expected(personal, accepted, verdict.competent_locality, now)
    )


async def _record_placed(
    session: AsyncSession,
    personal: PersonalData,
    accepted: events.ApplicationAccepted,
    verdict: domain.Placed,
    outcome: str,
    topic: str,
    now: datetime,
) -> bool:
    """Keep where the application went (its personal parts sealed), once: False when it was
    placed before (a redelivered ApplicationAccepted), and nothing more is to be sent."""
    return await insert_if_absent(
        session,
        RoutedApplicationRow,
        application_no=accepted.application_no,
        item_code=accepted.item_code,
        outcome=outcome,
        competent_locality=verdict.competent_locality,
        department=verdict.department,
        topic=topic,
        routed_at=now,
        application=personal.seal_fields(
            accepted.model_dump(mode="json"), where=_application_place(accepted.application_no)
        ),
    )


def _routed_notice(
    accepted: events.ApplicationAccepted, verdict: domain.Placed, now: datetime
) -> events.Routed:
    """Where the application went, for the timeline (a partner province's locality too)."""
    return events.Routed(
        application_no=accepted.application_no,
        competent_locality=verdict.competent_locality,
        department=verdict.department,
        receiving_locality=accepted.receiving_locality,
        routed_at=now,
    )


def _application_place(application_no: str) -> str:
    """Where a routed application (its personal parts) is bound (their AAD)."""
    return place("routing.routed_applications.application", application_no)


def open_accepted(
    personal: PersonalData, accepted: events.ApplicationAccepted
) -> events.ApplicationAccepted:
    """The accepted application with its personal data in clear (opened from what intake sealed
    for routing); one without a seal is taken as it is (intake before the seal existed)."""
    if accepted.personal_data is None:
        return accepted
    try:
        clear = personal.unseal(
            accepted.personal_data.model_dump(), context=accepted.application_no
        )
    except DecryptionFailed as exc:
        raise Invalid(
            "personal_data_unreadable",
            f"The personal data of {accepted.application_no} does not open for routing.",
        ) from exc
    return events.ApplicationAccepted.model_validate(
        {**accepted.model_dump(), **clear, "personal_data": None}
    )


async def forward_supplement(
    session: AsyncSession, outbox: Outbox, supplement: events.ApplicationSupplemented
) -> None:
    """Pass materials handed in at a window on to the locality that holds the case now (which a
    transfer may have changed since the window looked)."""
    routed = await session.get(RoutedApplicationRow, supplement.application_no)
    if routed is None or routed.outcome != "routed" or routed.competent_locality is None:
        raise NotFound(
            "application_not_routed",
            f"{supplement.application_no} was never routed; no case takes its supplement.",
        )
    forwarded = events.SupplementRouted.model_validate(
        {
            **supplement.model_dump(),
            "competent_locality": routed.competent_locality,
            "routed_at": clock.now(),
        }
    )
    await outbox.add(session, forwarded)


async def forward_withdrawal(
    session: AsyncSession, outbox: Outbox, withdrawn: events.ApplicationWithdrawn
) -> None:
    """一件事: a child of a failed bundle withdrawn, passed on to the locality that holds its
    case now. One never routed (unroutable) has no case: nothing to close."""
    routed = await session.get(RoutedApplicationRow, withdrawn.application_no)
    if routed is None:
        raise NotFound(
            "application_not_routed",
            f"Routing holds no application {withdrawn.application_no} to withdraw.",
        )
    if routed.outcome != "routed" or routed.competent_locality is None:
        return
    forwarded = events.WithdrawalRouted.model_validate(
        {
            **withdrawn.model_dump(),
            "competent_locality": routed.competent_locality,
            "routed_at": clock.now(),
        }
    )
    await outbox.add(session, forwarded)


async def transfer_application(
    session: AsyncSession, outbox: Outbox, transferred: events.CaseTransferred
) -> None:
    """移交: route the application again, to the locality the approver named, with the
    department of the item's rule; the timeline learns of it from `Transferred`."""
    routed = await session.get(
        RoutedApplicationRow, transferred.application_no, with_for_update=True
    )
    if routed is None or routed.application is None:
        raise NotFound(
            "application_not_routed",
            f"Routing holds no application {transferred.application_no} to transfer.",
        )
    if routed.competent_locality == transferred.to_locality:
        return  # already there: the same transfer announced twice
    if routed.competent_locality != transferred.from_locality:
        raise Forbidden(
            "not_competent",
            f"{transferred.from_locality} does not hold {transferred.application_no}.",
        )
    if not is_known_locality(transferred.to_locality):
        raise Invalid.of_field(
            "unknown_locality", f"Unknown locality {transferred.to_locality}.", "to_locality"
        )
    rule = await session.get(JurisdictionRuleRow, routed.item_code)
    department = rule.department if rule else (routed.department or "")
    now = clock.now()
    topic = topics.approval_requests(transferred.to_locality)
    stored = outbox.personal_data().open_fields(
        routed.application, where=_application_place(transferred.application_no)
    )
    application = events.ApplicationRouted.model_validate(
        {
            **stored,
            "competent_locality": transferred.to_locality,
            "department": department,
            "routed_at": now,
        }
    )
    routed.competent_locality, routed.department, routed.topic = (
        transferred.to_locality,
        department,
        topic,
    )
    routed.transfers += 1
    routed.note = f"transferred from {transferred.from_locality}: {transferred.reason}"
    await outbox.add(session, application)
    notice = events.Transferred(
        application_no=transferred.application_no,
        from_locality=transferred.from_locality,
        competent_locality=transferred.to_locality,
        department=department,
        reason=transferred.reason,
        routed_at=now,
    )
    await outbox.add(session, notice)
