"""Each application's progress as events come back, and the replica of the certificate registry
(免证办) that applications cite."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.intake import domain
from services.intake.db import ApplicationRow, CertificateRow, TimelineEntryRow
from shared import clock
from shared.certificates import contradictions
from shared.competence import check_competent
from shared.db import insert_if_absent
from shared.errors import Forbidden, Invalid, NotFound
from shared.federation.cases import numbered_by_partner
from shared.i18n import _
from shared.messaging import events
from shared.vocabulary import ApplicationStatus

log = logging.getLogger(__name__)


async def record_progress(
    session: AsyncSession, payload: events.ApplicationEvent, at: datetime
) -> bool:
    """Append what an event means to the application's timeline; False if it means nothing.
    NotFound if intake has no such application (the event is dead-lettered). An approval event
    counts only from the locality routing made competent (shared.competence: refused for good
    from another, retried while routing's fact is still on its way)."""
    fact = domain.timeline_fact(payload)
    if fact is None:
        return False
    application = await session.scalar(
        select(ApplicationRow)
        .where(ApplicationRow.application_no == payload.application_no)
        .with_for_update()
    )
    if application is None:
        if numbered_by_partner(payload.application_no):
            # 跨省通办: a partner province's window took it; that province's intake tells its
            # applicant (shared.federation.cases). Passed over, not dead-lettered.
            log.info("intake: %s is a partner province's application", payload.application_no)
            return False
        raise NotFound(
            "application_not_found",
            _("No application {application_no}.", application_no=payload.application_no),
        )
    _check_competent(payload, application)
    current = ApplicationStatus(application.status)
    session.add(
        TimelineEntryRow(
            application_no=payload.application_no,
            at=at,
            status=fact.entry_status or fact.status or current,
            locality=fact.locality,
            note=fact.note,
            note_params=_stored(fact.note_params),
        )
    )
    application.status = domain.status_after(current, application.competent_locality, fact)
    if fact.competent_locality:
        application.competent_locality = fact.competent_locality
        application.routed_locality = fact.competent_locality
        application.transferring_to = None
    if fact.requested_materials is not None:
        application.requested_materials = fact.requested_materials
    application.updated_at = clock.now()
    return True


def _stored(params: Mapping[str, Any] | None) -> dict[str, Any] | None:
    return None if params is None else dict(params)


# --- 免证办: the replica of the certificate registry ------------------------------------------


async def record_certificate_issued(
    session: AsyncSession, issued: events.CertificateIssued
) -> bool:
    """A certificate joins the replica; False if it was there already (the same certificate
    announced twice, or after its revocation, changes nothing). The consumer runner checked
    that the issuer's seal signed the event; what the event says must also be what the sealed
    document says, or it is refused (dead-lettered) rather than made citable."""
    differing = contradictions(issued, issued.document.content)
    if differing:
        raise Invalid(
            "certificate_inconsistent",
            _(
                "Certificate {certificate_no}: the event and its sealed document differ.",
                certificate_no=issued.certificate_no,
            ),
            {"fields": differing},
        )
    await _check_issuer(session, issued)
    return await insert_if_absent(
        session,
        CertificateRow,
        certificate_no=issued.certificate_no,
        issuer_locality=issued.locality,
        item_code=issued.item_code,
        holder_id_digest=issued.holder_id_digest,
        issued_on=issued.issued_on,
        valid_until=issued.valid_until,
        revoked_at=None,
        revoked_reason=None,
    )


async def record_certificate_revoked(
    session: AsyncSession, revoked: events.CertificateRevoked
) -> bool:
    """A certificate of the replica can no longer be cited; False if it was revoked already
    (the first revocation stands). Only the issuing locality revokes its certificates (its seal
    signed the event). NotFound if the replica never had it: its issue comes first on the
    application's key, so that is a fact out of place (dead-lettered for operators)."""
    await _check_issuer(session, revoked)
    row = await session.get(CertificateRow, revoked.certificate_no, with_for_update=True)
    if row is None:
        raise NotFound(
            "certificate_not_found",
            _(
                "No certificate {certificate_no} to revoke.",
                certificate_no=revoked.certificate_no,
            ),
        )
    if row.issuer_locality != revoked.locality:
        raise Forbidden(
            "not_issuer",
            _(
                "Certificate {certificate_no} was issued by {issuer}, not {locality}.",
                certificate_no=revoked.certificate_no,
                issuer=row.issuer_locality,
                locality=revoked.locality,
            ),
        )
    if row.revoked_at is not None:
        return False
    row.revoked_at = revoked.revoked_at
    row.revoked_reason = revoked.reason
    return True


async def note_revocation(
    session: AsyncSession, revoked: events.CertificateRevoked, at: datetime
) -> None:
    """The revocation on the timeline of the application it was issued for, if intake accepted
    it (a certificate of another system has no timeline here)."""
    if await session.get(ApplicationRow, revoked.application_no) is not None:
        await record_progress(session, revoked, at)


async def _check_issuer(
    session: AsyncSession, event: events.CertificateIssued | events.CertificateRevoked
) -> None:
    """A certificate of an application intake accepted counts only from the locality routing
    made competent for it. (One of an application before intake's time, or of another system,
    can be cited only if its issuer may be competent for its item: checked at citation.)"""
    application = await session.get(ApplicationRow, event.application_no)
    if application is not None:
        _check_competent(event, application)


def _check_competent(payload: events.EventPayload, application: ApplicationRow) -> None:
    check_competent(
        payload,
        application.application_no,
        application.routed_locality,
        application.transferring_to,
    )


async def record_transfer(session: AsyncSession, transferred: events.CaseTransferred) -> None:
    """移交: the competent locality handed the case on. Its timeline entry comes with routing's
    Transferred; until then the case is nobody's (shared.competence)."""
    application = await session.get(
        ApplicationRow, transferred.application_no, with_for_update=True
    )
    if application is None:
        if numbered_by_partner(transferred.application_no):
            return  # a partner province's application (record_progress)
        raise NotFound(
            "application_not_found",
            _("No application {application_no}.", application_no=transferred.application_no),
        )
    if application.routed_locality == transferred.to_locality and (
        application.transferring_to is None
    ):
        return  # routing's fact of this transfer was read first
    _check_competent(transferred, application)
    application.transferring_to = transferred.to_locality


async def record_consultation(
    session: AsyncSession, payload: events.ConsultationEvent, at: datetime
) -> bool:
    """视频会商 about an application: a note on its timeline. Only a consultation with the
    application's own competent locality counts; one naming no application (before acceptance)
    or an application this intake does not hold (a number mistyped at the window) is passed
    over, not dead-lettered: it is on the consultation's own record and in the ledger."""
    fact = domain.timeline_fact(payload)
    if fact is None or payload.application_no is None:
        return False
    application = await session.get(ApplicationRow, payload.application_no, with_for_update=True)
    if application is None or application.competent_locality != payload.locality:
        return False
    session.add(
        TimelineEntryRow(
            application_no=application.application_no,
            at=at,
            status=application.status,
            locality=fact.locality,
            note=fact.note,
            note_params=_stored(fact.note_params),
        )
    )
    return True
