"""Approval's certificate registry: the sealed documents a decision issues (certificates and
rejection notices), read and revoked by the issuing locality."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.approval.db import CertificateRow
from services.approval.domain import serves
from services.approval.seals import Seals
from shared import certificates, clock
from shared.auth import Principal
from shared.certificates import CertificateContent, Content
from shared.crypto.personal import PersonalData, place
from shared.errors import Conflict, Invalid, NotFound
from shared.i18n import _
from shared.messaging import events
from shared.messaging.outbox import Outbox


@dataclass(frozen=True)
class Issuer:
    """What a decision needs to issue its sealed document: the localities' seals, and how long
    a certificate is valid (settings.certificate_valid_years; 0: without limit)."""

    seals: Seals
    certificate_valid_years: int = 0


# The kinds of document in the registry.
CERTIFICATE = "certificate"
REJECTION_NOTICE = "rejection_notice"


def holder_name_place(number: str) -> str:
    """Where a certificate's holder name is bound (its AAD)."""
    return place("approval.certificates.holder_name", number)


async def _issue(session: AsyncSession, outbox: Outbox, content: Content, seals: Seals) -> None:
    """Seal `content` with its issuer's seal, keep it in the registry (the holder's name
    encrypted) and announce it province-wide (the name masked, and sealed for the printer)."""
    personal = outbox.personal_data()
    document_seal = certificates.seal(content, seals.signer(content.issuer_locality))
    stored = content.model_dump(mode="json")
    stored["holder_name"] = personal.encrypt(
        content.holder_name, where=holder_name_place(content.number)
    )
    is_certificate = isinstance(content, CertificateContent)
    expires = content.valid_until if isinstance(content, CertificateContent) else None
    session.add(
        CertificateRow(
            number=content.number,
            kind=CERTIFICATE if is_certificate else REJECTION_NOTICE,
            application_no=content.application_no,
            locality=content.issuer_locality,
            item_code=content.item_code,
            content=stored,
            seal_signer=document_seal.signer,
            seal_signature=document_seal.signature,
            issued_on=content.issued_on,
            valid_until=expires,
        )
    )
    published = certificates.published(content, document_seal, personal)
    issued: events.CertificateIssued | events.RejectionNoticeIssued
    if isinstance(content, CertificateContent):
        issued = events.CertificateIssued(
            application_no=content.application_no,
            locality=content.issuer_locality,
            certificate_no=content.number,
            item_code=content.item_code,
            holder_id_digest=content.holder_id_digest,
            issued_on=content.issued_on,
            valid_until=content.valid_until,
            document=published,
        )
    else:
        issued = events.RejectionNoticeIssued(
            application_no=content.application_no,
            locality=content.issuer_locality,
            notice_no=content.number,
            item_code=content.item_code,
            issued_on=content.issued_on,
            document=published,
        )
    await outbox.add(session, issued)


@dataclass(frozen=True)
class IssuedDocument:
    """A registry entry with its content in clear (the holder's name opened)."""

    number: str
    kind: str  # CERTIFICATE | REJECTION_NOTICE
    application_no: str
    locality: str
    item_code: str
    content: Content
    seal: events.DocumentSeal
    issued_on: date
    valid_until: date | None
    revoked_at: datetime | None
    revoked_reason: str | None
    revoked_by: str | None


def _document_of(row: CertificateRow, personal: PersonalData) -> IssuedDocument:
    name = personal.decrypt(row.content["holder_name"], where=holder_name_place(row.number))
    return IssuedDocument(
        number=row.number,
        kind=row.kind,
        application_no=row.application_no,
        locality=row.locality,
        item_code=row.item_code,
        content=certificates.content_from({**row.content, "holder_name": name}),
        seal=events.DocumentSeal(signer=row.seal_signer, signature=row.seal_signature),
        issued_on=row.issued_on,
        valid_until=row.valid_until,
        revoked_at=row.revoked_at,
        revoked_reason=row.revoked_reason,
        revoked_by=row.revoked_by,
    )


async def _registry_entry(
    session: AsyncSession, number: str, approver: Principal, *, lock: bool = False
) -> CertificateRow:
    """The entry, if the caller's locality issued it; another locality's is absent."""
    query = select(CertificateRow).where(CertificateRow.number == number)
    row = await session.scalar(query.with_for_update() if lock else query)
    if row is None or not serves(approver.locality, row.locality):
        raise NotFound(
            "certificate_not_found",
            _("Your locality issued no certificate or notice {number}.", number=number),
        )
    return row


async def view_certificate(
    session: AsyncSession, personal: PersonalData, number: str, approver: Principal
) -> IssuedDocument:
    return _document_of(await _registry_entry(session, number, approver), personal)


async def revoke_certificate(
    session: AsyncSession, outbox: Outbox, number: str, reason: str, approver: Principal
) -> IssuedDocument:
    """吊销/撤销: the issuing locality withdraws a certificate, once, with its reason; the
    province learns it (delivery stops verifying it, intake stops accepting it as cited)."""
    row = await _registry_entry(session, number, approver, lock=True)
    reason = reason.strip()
    if not reason:
        raise Invalid.of_field("reason_required", _("A revocation must give its reason."), "reason")
    if row.kind != CERTIFICATE:
        raise Conflict(
            "not_a_certificate",
            _("{number} is a rejection notice, not a certificate.", number=number),
        )
    if row.revoked_at is not None:
        raise Conflict(
            "already_revoked",
            _("Certificate {number} is already revoked.", number=number),
            {"revoked_at": row.revoked_at.isoformat()},
        )
    await revoke(session, outbox, row, reason, approver.sub)
    return _document_of(row, outbox.personal_data())


async def revoke(
    session: AsyncSession, outbox: Outbox, row: CertificateRow, reason: str, by: str
) -> None:
    """Mark the registry's entry revoked and announce it (the province's registry, delivery's
    public verification and intake's 免证办 replica learn it from the signed event)."""
    now = clock.now()
    row.revoked_at, row.revoked_reason, row.revoked_by = now, reason, by
    revoked = events.CertificateRevoked(
        application_no=row.application_no,
        locality=row.locality,
        certificate_no=row.number,
        reason=reason,
        revoked_by=by,
        revoked_at=now,
    )
    await outbox.add(session, revoked)
