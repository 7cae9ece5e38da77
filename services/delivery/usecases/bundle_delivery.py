"""一件事: one result for a bundle application. Once ready (bundle_readiness.py), the bundle is
ONE print job at the receiving window, handed over in ONE hand-over: every certificate delivered
in one transaction, each child's timeline told."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.delivery.db import BundleDeliveryRow, PrintJobRow
from services.delivery.usecases.bundle_readiness import DELIVERED, READY, jobs_of
from services.delivery.usecases.handover import (
    HandOver,
    _failure,
    _lock_window,
    check_handover_attempts,
)
from services.delivery.usecases.print_jobs import PrintJob, print_job_of
from shared import clock
from shared.auth import Principal
from shared.db import Database
from shared.errors import Conflict, DomainError, NotFound
from shared.i18n import _
from shared.identity import id_number_digest
from shared.messaging import events
from shared.messaging.outbox import Outbox
from shared.vocabulary import PrintJobStatus


@dataclass(frozen=True)
class BundleJob:
    """One print job: a bundle's certificates, as the window sees it."""

    bundle_no: str
    bundle_id: str
    window_id: str
    status: str
    ready_at: datetime | None
    delivered_at: datetime | None
    collected_by: str | None
    certificates: list[PrintJob]


async def bundle_queue(session: AsyncSession, clerk: Principal) -> list[BundleJob]:
    """The bundles ready at the clerk's window, the longest-waiting first."""
    bundles = (
        await session.scalars(
            select(BundleDeliveryRow)
            .where(
                BundleDeliveryRow.window_id == clerk.window_id, BundleDeliveryRow.status == READY
            )
            .order_by(BundleDeliveryRow.ready_at, BundleDeliveryRow.bundle_no)
            .limit(100)
        )
    ).all()
    return [await _job_of(session, bundle) for bundle in bundles]


async def _job_of(session: AsyncSession, bundle: BundleDeliveryRow) -> BundleJob:
    jobs = (
        await session.scalars(
            select(PrintJobRow)
            .where(PrintJobRow.application_no.in_(bundle.members))
            .order_by(PrintJobRow.application_no)
        )
    ).all()
    return BundleJob(
        bundle_no=bundle.bundle_no,
        bundle_id=bundle.bundle_id,
        window_id=bundle.window_id,
        status=bundle.status,
        ready_at=bundle.ready_at,
        delivered_at=bundle.delivered_at,
        collected_by=bundle.collected_by,
        certificates=[print_job_of(job) for job in jobs],
    )


@dataclass(frozen=True)
class HandOverBundle:
    bundle_no: str
    recipient_id_number: str
    clerk: Principal


async def attempt_bundle_handover(
    db: Database,
    outbox: Outbox,
    command: HandOverBundle,
    *,
    digest_key: bytes,
    max_failures: int,
    minutes: float,
) -> BundleJob:
    """One hand-over for the whole bundle, with the window's limit on refused attempts (as
    handover.attempt_handover): a refusal is recorded and committed, then raised."""
    window = command.clerk.window_id or ""
    refusal: DomainError | None = None
    async with db.transaction() as session:
        await _lock_window(session, window)
        await check_handover_attempts(session, window, max_failures=max_failures, minutes=minutes)
        try:
            async with session.begin_nested():
                job = await _hand_over(session, outbox, command, digest_key)
        except (NotFound, Conflict) as refused:
            if refused.code not in ("recipient_mismatch", "not_in_print_queue"):
                raise
            # Recorded under the bundle's number (the window's refusals count the same).
            attempt = HandOver(command.bundle_no, command.recipient_id_number, command.clerk)
            session.add(_failure(attempt, refused))
            refusal = refused
    if refusal is not None:
        raise refusal
    return job


async def _hand_over(
    session: AsyncSession, outbox: Outbox, command: HandOverBundle, digest_key: bytes
) -> BundleJob:
    bundle = await session.get(BundleDeliveryRow, command.bundle_no, with_for_update=True)
    if bundle is None or bundle.window_id != command.clerk.window_id:
        raise NotFound(
            "not_in_print_queue",
            _("{application_no} is not waiting at your window.", application_no=command.bundle_no),
        )
    if bundle.status == DELIVERED:
        raise Conflict("already_delivered", _("The certificate was already handed over."))
    if bundle.status != READY:
        raise Conflict(
            "bundle_not_ready",
            _(
                "Not every certificate of the bundle {bundle_no} is here yet.",
                bundle_no=command.bundle_no,
            ),
        )
    jobs = await jobs_of(session, bundle)
    presented = id_number_digest(command.recipient_id_number, digest_key)
    holder = jobs[0]
    if hmac.compare_digest(holder.holder_id_digest, presented):
        collected_by = "applicant"
    elif holder.agent_id_digest and hmac.compare_digest(holder.agent_id_digest, presented):
        collected_by = "agent"
    else:
        raise Conflict(
            "recipient_mismatch",
            _("The ID number matches neither the applicant nor a recorded agent."),
        )
    now = clock.now()
    bundle.status, bundle.delivered_at = DELIVERED, now
    bundle.delivered_by, bundle.collected_by = command.clerk.sub, collected_by
    for job in jobs:
        job.status, job.delivered_at = PrintJobStatus.DELIVERED, now
        job.delivered_by, job.collected_by = command.clerk.sub, collected_by
        await outbox.add(
            session,
            events.CertificateDelivered(
                application_no=job.application_no,
                certificate_no=job.certificate_no,
                locality=job.locality,
                window_id=job.window_id,
                delivered_at=now,
                channel="window",
                collected_by=collected_by,
                bundle_no=bundle.bundle_no,
            ),
        )
    return await _job_of(session, bundle)
