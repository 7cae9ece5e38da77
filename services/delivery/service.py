"""Delivery's use cases: queue each approved certificate where it will be handed over (or
posted), and hand it over at the window with the recipient's ID checked. Each takes the open
transaction and raises domain errors."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from services.delivery.db import FailedHandoverRow, PostalDispatchRow, PrintJobRow
from shared import clock
from shared.auth import Principal
from shared.crypto.personal import DecryptionFailed, PersonalData, place
from shared.db import Database, insert_if_absent
from shared.errors import ApiError, Conflict, DomainError, Invalid, NotFound
from shared.identity import id_number_digest
from shared.messaging import events, topics
from shared.messaging.outbox import Outbox
from shared.pagination import MAX_PAGE, page
from shared.telemetry import Telemetry, current_traceparent
from shared.vocabulary import DeliveryMethod, PostalStatus, PrintJobStatus


def address_at(application_no: str) -> str:
    """Where a dispatch's address is bound (its AAD)."""
    return place("delivery.postal_dispatches.address", application_no)


def postal_address(personal: PersonalData, approved: events.ApplicationApproved) -> dict[str, Any]:
    """The postal address in clear: opened from what approval sealed for delivery (the event's
    own `delivery.address` is masked on the province-wide topic)."""
    if approved.postal_address is not None:
        try:
            clear = personal.unseal(
                approved.postal_address.model_dump(), context=approved.application_no
            )
        except DecryptionFailed as exc:
            raise Invalid.of_field(
                "postal_address_unreadable",
                "The postal address does not open for delivery.",
                "postal_address",
            ) from exc
        return events.PostalAddress.model_validate(clear).model_dump(mode="json")
    if approved.delivery.address is None or approved.delivery.address.line == events.MASKED_LINE:
        raise Invalid.of_field(
            "postal_address_missing", "Postal delivery without an address.", "delivery"
        )
    return approved.delivery.address.model_dump(mode="json")  # sent before addresses were sealed


async def queue_certificate(
    session: AsyncSession, outbox: Outbox, approved: events.ApplicationApproved
) -> None:
    now = clock.now()
    traceparent, _ = current_traceparent()
    if approved.delivery.method == DeliveryMethod.POSTAL:
        personal = outbox.personal_data()
        address = postal_address(personal, approved)
        await insert_if_absent(
            session,
            PostalDispatchRow,
            certificate_no=approved.certificate_no,
            application_no=approved.application_no,
            address=personal.encrypt_json(address, where=address_at(approved.application_no)),
            status=PostalStatus.AWAITING_CARRIER,
            created_at=now,
            traceparent=traceparent,
            # For the dispatch's tracking events (services/delivery/dispatch.py).
            receiving_locality=approved.receiving_locality,
            window_id=approved.window_id,
            item_code=approved.item_code,
        )
        return
    queued = await insert_if_absent(
        session,
        PrintJobRow,
        certificate_no=approved.certificate_no,
        application_no=approved.application_no,
        window_id=approved.window_id,
        locality=approved.receiving_locality,
        issuer_locality=approved.locality,
        item_code=approved.item_code,
        item_name=approved.item_name,
        holder_name_masked=approved.holder_name_masked,
        holder_id_digest=approved.holder_id_digest,
        agent_id_digest=approved.agent_id_digest,
        agent_name_masked=approved.agent_name_masked,
        status=PrintJobStatus.WAITING,
        queued_at=now,
        traceparent=traceparent,
    )
    if not queued:
        return  # the same approval announced twice: one job, announced once
    await outbox.add(
        session,
        events.CertificateReadyForPickup(
            application_no=approved.application_no,
            certificate_no=approved.certificate_no,
            window_id=approved.window_id,
            locality=approved.receiving_locality,
            queued_at=now,
        ),
        topic=topics.DELIVERY_EVENTS,
    )


async def print_queue(
    session: AsyncSession, clerk: Principal, *, limit: int = MAX_PAGE, cursor: str | None = None
) -> tuple[list[PrintJobRow], str | None]:
    """What waits at the clerk's window, the longest-waiting first, a page at a time."""
    query = select(PrintJobRow).where(
        PrintJobRow.window_id == clerk.window_id,
        PrintJobRow.status == PrintJobStatus.WAITING,
    )
    keys = [PrintJobRow.queued_at, PrintJobRow.certificate_no]
    return await page(session, query, keys, limit=limit, cursor=cursor)


@dataclass(frozen=True)
class HandOver:
    """Command: the clerk hands the certificate to a recipient whose ID number they checked."""

    application_no: str
    recipient_id_number: str
    clerk: Principal


class TooManyFailedHandovers(ApiError):
    def __init__(self, failures: int, minutes: float) -> None:
        super().__init__(
            429,
            "too_many_failed_handovers",
            f"This window had {failures} refused hand-overs in the last {minutes:g} minutes; "
            "wait, or ask the supervisor to look into them.",
        )


# Refusals that count towards HANDOVER_MAX_FAILURES: what a window guessing at ID numbers or
# application numbers gets.
GUESSED = ("recipient_mismatch", "not_in_print_queue")


async def attempt_handover(
    db: Database,
    outbox: Outbox,
    command: HandOver,
    *,
    digest_key: bytes,
    telemetry: Telemetry,
    max_failures: int,
    minutes: float,
) -> PrintJobRow:
    """A hand-over at a window, with the window's limit on refusals, in ONE transaction: the
    window is locked (to the commit) while its recent refusals are counted and the attempt is
    made and, when refused, recorded. Attempts of one window so follow one another: however many
    arrive at once, no more than `max_failures` are ever refused within `minutes` before the
    window gets 429."""
    refusal: DomainError | None = None
    async with db.transaction() as session:
        await _lock_window(session, command.clerk.window_id or "")
        await check_handover_attempts(
            session, command.clerk.window_id or "", max_failures=max_failures, minutes=minutes
        )
        try:
            # A savepoint: a refused attempt leaves nothing behind but its record.
            async with session.begin_nested():
                job = await hand_over(
                    session, outbox, command, digest_key=digest_key, telemetry=telemetry
                )
        except (NotFound, Conflict) as refused:
            if refused.code not in GUESSED:
                raise
            session.add(_failure(command, refused))
            refusal = refused
    if refusal is not None:
        raise refusal  # after the commit: the refusal is on record
    return job


async def _lock_window(session: AsyncSession, window_id: str) -> None:
    """A transaction-scoped advisory lock on the window (a window has no row of its own)."""
    await session.execute(
        text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
        {"key": f"delivery.handover:{window_id}"},
    )


async def check_handover_attempts(
    session: AsyncSession, window_id: str, *, max_failures: int, minutes: float
) -> None:
    """Refuse (429) while the window has had `max_failures` refused hand-overs recently: an ID
    number is guessed one refusal at a time, and each refusal is on record."""
    since = clock.now() - timedelta(minutes=minutes)
    failures = await session.scalar(
        select(func.count())
        .select_from(FailedHandoverRow)
        .where(FailedHandoverRow.window_id == window_id, FailedHandoverRow.attempted_at >= since)
    )
    if (failures or 0) >= max_failures:
        raise TooManyFailedHandovers(int(failures or 0), minutes)


def _failure(command: HandOver, refusal: DomainError) -> FailedHandoverRow:
    return FailedHandoverRow(
        window_id=command.clerk.window_id or "",
        application_no=command.application_no,
        reason=refusal.code,
        attempted_by=command.clerk.sub,
        attempted_at=clock.now(),
    )


async def hand_over(
    session: AsyncSession,
    outbox: Outbox,
    command: HandOver,
    *,
    digest_key: bytes,
    telemetry: Telemetry,
) -> PrintJobRow:
    job = await session.scalar(
        select(PrintJobRow)
        .where(PrintJobRow.application_no == command.application_no)
        .with_for_update()
    )
    if job is None or job.window_id != command.clerk.window_id:
        raise NotFound(
            "not_in_print_queue", f"{command.application_no} is not waiting at your window."
        )
    if job.status == PrintJobStatus.DELIVERED:
        raise Conflict("already_delivered", "The certificate was already handed over.")
    presented = id_number_digest(command.recipient_id_number, digest_key)
    if hmac.compare_digest(job.holder_id_digest, presented):
        job.collected_by = "applicant"
    elif job.agent_id_digest and hmac.compare_digest(job.agent_id_digest, presented):
        job.collected_by = "agent"
    else:
        raise Conflict(
            "recipient_mismatch",
            "The ID number matches neither the applicant nor a recorded agent.",
        )

    now = clock.now()
    job.status, job.delivered_at, job.delivered_by = (
        PrintJobStatus.DELIVERED,
        now,
        command.clerk.sub,
    )
    with telemetry.journey_span(
        "certificate hand-over",
        job.traceparent,
        attributes={
            "tongban.application_no": job.application_no,
            "tongban.window_id": job.window_id,
        },
    ):
        await outbox.add(
            session,
            events.CertificateDelivered(
                application_no=job.application_no,
                certificate_no=job.certificate_no,
                locality=job.locality,
                window_id=job.window_id,
                delivered_at=now,
                channel="window",
                collected_by=job.collected_by,
            ),
            topic=topics.DELIVERY_EVENTS,
        )
    return job
