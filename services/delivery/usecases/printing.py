"""Printing a document of delivery's replica of the registry at the application's receiving
window: who may print it, every print recorded with its ordinal (a reprint says so), and the
certificate's verification code, made at its first print, for the QR code."""

from __future__ import annotations

import base64
import logging
import secrets
from dataclasses import dataclass

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from services.delivery.db import (
    CertificatePrintRow,
    CertificateRow,
    PrintJobRow,
    ReceivingWindowRow,
)
from services.delivery.domain import code_digest, verify_url
from services.delivery.pdf import PrintableDocument
from services.delivery.usecases.documents import (
    PublicKeys,
    checked,
    kind_of,
    locality_name,
    verification_code_place,
)
from services.delivery.usecases.revocations import revocation
from shared import clock
from shared.auth import Principal
from shared.certificates import CertificateContent, RejectionNoticeContent
from shared.crypto.personal import PersonalData
from shared.errors import Conflict, NotFound
from shared.i18n import _
from shared.reference.localities import is_within

log = logging.getLogger(__name__)

REVIEWERS = ("approver", "approval_system")


async def lock_certificate(session: AsyncSession, number: str) -> None:
    """The prints of one certificate, and its first verification code, one at a time: a lock on
    its number held to the end of the transaction. An advisory lock, not the row's FOR UPDATE:
    a row lock is written into the row's 8 kB heap page (and that page into the WAL), so at
    province scale every print would dirty a page of the 30 GB registry, and that write-back
    tripled the print lookup's p99 at 200 prints a second (make registry-scale). What it
    serialises is the same: the ordinal counted and the code made by one caller at a time (the
    unique (certificate_no, ordinal) stays the backstop)."""
    await session.execute(
        text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
        {"key": f"certificate:{number}"},
    )


@dataclass(frozen=True)
class Print:
    document: PrintableDocument
    ordinal: int  # 1 for the first print, 2 for the first reprint, ...


async def may_print(session: AsyncSession, row: CertificateRow, caller: Principal) -> bool:
    """A clerk at the application's receiving window, or a reviewer of the issuing locality."""
    if caller.role in REVIEWERS:
        return is_within(row.issuer_locality, caller.locality)
    if caller.role != "window_clerk" or not caller.window_id:
        return False
    window = await session.scalar(
        select(ReceivingWindowRow.window_id).where(
            ReceivingWindowRow.application_no == row.application_no
        )
    )
    if window is None:  # approved before receiving windows were recorded: its print job says
        window = await session.scalar(
            select(PrintJobRow.window_id).where(PrintJobRow.application_no == row.application_no)
        )
    return window == caller.window_id


def holders(row: CertificateRow, id_digest: str) -> bool:
    """Whether the certificate (not a rejection notice) is held by the ID number's digest."""
    return row.kind == "certificate" and row.content.get("holder_id_digest") == id_digest


async def print_document(
    session: AsyncSession,
    caller: Principal,
    number: str,
    *,
    personal: PersonalData,
    public_key: PublicKeys,
    public_base_url: str,
    holder_id_digest: str | None = None,
) -> Print:
    """Record a print of `number` by `caller` and give what to render. Anyone who may not print
    it is told it does not exist (as API.md's own_locality scope does). With `holder_id_digest`
    (the portal, for a signed-in applicant) only the holder's own certificate is given."""
    await lock_certificate(session, number)
    row = await session.get(CertificateRow, number, populate_existing=True)
    if row is None or not (
        holders(row, holder_id_digest)
        if holder_id_digest is not None
        else await may_print(session, row, caller)
    ):
        raise NotFound("certificate_not_found", _("No certificate {number}.", number=number))
    revoked = revocation(row, public_key)
    if revoked is not None:
        raise Conflict(
            "certificate_revoked",
            _("{number} was revoked: {reason}", number=number, reason=revoked.reason or ""),
        )
    check = checked(row, personal, public_key)
    if check.content is None or not check.seal.valid:
        # The registry's copy was changed: printing it would vouch for the change.
        log.error("certificate %s: seal does not verify (%s)", number, check.seal.reason)
        raise Conflict(
            "seal_invalid",
            _(
                "{number} does not verify in the registry ({reason}).",
                number=number,
                reason=check.seal.reason,
            ),
        )
    content = check.content
    previous = await session.scalar(
        select(func.count())
        .select_from(CertificatePrintRow)
        .where(CertificatePrintRow.certificate_no == number)
    )
    ordinal = int(previous or 0) + 1
    session.add(
        CertificatePrintRow(
            certificate_no=number,
            ordinal=ordinal,
            reprint=ordinal > 1,
            printed_by=caller.sub,
            role=caller.role,
            window_id=caller.window_id,
            locality=caller.locality,
            printed_at=clock.now(),
        )
    )
    return Print(
        PrintableDocument(
            kind=kind_of(content),
            number=content.number,
            item_code=content.item_code,
            item_name=content.item_name,
            holder_name=content.holder_name,
            issuer_locality=content.issuer_locality,
            issuer_name=locality_name(content.issuer_locality),
            issuer_department=content.issuer_department,
            issued_on=content.issued_on,
            valid_until=content.valid_until if isinstance(content, CertificateContent) else None,
            reason=content.reason if isinstance(content, RejectionNoticeContent) else None,
            seal_signature=base64.b64decode(row.seal_signature),
            # Rejection notices are not publicly verifiable: no code, no QR code.
            verify_url=(
                verify_url(public_base_url, number, verification_code(row, personal))
                if row.kind == "certificate"
                else None
            ),
            print_number=ordinal,
        ),
        ordinal,
    )


def verification_code(row: CertificateRow, personal: PersonalData) -> str:
    """The certificate's verification code, made at its first print (the caller holds
    lock_certificate and read the row after taking it)."""
    if row.verification_code is not None:
        return personal.decrypt(row.verification_code, where=verification_code_place(row.number))
    code = secrets.token_urlsafe(16)  # 128 bits
    row.verification_code = personal.encrypt(code, where=verification_code_place(row.number))
    row.verification_code_digest = code_digest(code)
    return code
