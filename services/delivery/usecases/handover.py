"""The hand-over at the window: the certificate given to a recipient whose ID number the clerk
checked, with the window's limit on refused attempts."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from services.delivery.db import FailedHandoverRow, PrintJobRow
from services.delivery.usecases.print_jobs import PrintJob, print_job_of
from shared import clock
from shared.auth import Principal
from shared.db import Database
from shared.errors import ApiError, Conflict, DomainError, NotFound
from shared.i18n import _
from shared.identity import id_number_digest
from shared.messaging import events
from shared.messaging.outbox import Outbox
from shared.telemetry import Telemetry
from shared.vocabulary import PrintJobStatus


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
            _(
                "This window had {failures} refused hand-overs in the last {minutes} minutes; "
                "wait, or ask the supervisor to look into them.",
                failures=failures,
                minutes=f"{minutes:g}",
            ),
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
) -> PrintJob:
    """A hand-over at a window, with the window's limit on refusals, in ONE transaction: the
    window is locked (to the commit) while its recent refusals are counted and the attempt is
    made and, when refused, recorded. Attempts of one window so follow one another: however many
    arrive at once, no more than `max_failures` are ever refused within `minutes` before the
    window gets 429."""
    # The Database, not the request's session: a refusal is committed and only then raised,
    # and an error raised in the request's transaction would roll its record back.
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
    return print_job_of(job)


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
            "not_in_print_queue",
            _(
                "{application_no} is not waiting at your window.",
                application_no=command.application_no,
            ),
        )
    if job.status == PrintJobStatus.DELIVERED:
        raise Conflict("already_delivered", _("The certificate was already handed over."))
    if job.bundle_no is not None:
        raise Conflict(
            "bundle_member",
            _(
                "{application_no} is handed over with its bundle {bundle_no}, in one hand-over.",
                application_no=job.application_no,
                bundle_no=job.bundle_no,
            ),
        )
    presented = id_number_digest(command.recipient_id_number, digest_key)
    if hmac.compare_digest(job.holder_id_digest, presented):
        job.collected_by = "applicant"
    elif job.agent_id_digest and hmac.compare_digest(job.agent_id_digest, presented):
        job.collected_by = "agent"
    else:
        raise Conflict(
            "recipient_mismatch",
            _("The ID number matches neither the applicant nor a recorded agent."),
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
        )
    return job
