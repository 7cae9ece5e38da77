"""Delivery's replica of the province's certificate registry (电子证照 and 不予许可决定书), and
what it is for: printing a document at the receiving window, and verifying one for anyone.

Approval issues and seals (CertificateIssued, RejectionNoticeIssued, CertificateRevoked on
tongban.approval.events); delivery opens the holder's name sealed for it, checks the seal, and
keeps the document: its content as JSON with the holder's name encrypted, and the seal, and
a revocation as the issuer's signed event. Every answer about a document (print, verify) checks
the seal and the revocation again over what the registry holds, so a row changed in the
database verifies as `signature_invalid` (or `revocation_invalid`) instead of vouching for
itself.

Certificate numbers are sequential: public verification takes the number and a verification
code of 128 random bits, which only the printed QR code carries. Rejection notices are the
applicant's, and not publicly verifiable.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.delivery.db import (
    CertificatePrintRow,
    CertificateRow,
    PrintJobRow,
    ReceivingWindowRow,
)
from services.delivery.domain import code_digest, verify_url
from services.delivery.pdf import PrintableDocument
from shared import clock
from shared.auth import Principal
from shared.certificates import (
    CertificateContent,
    Content,
    RejectionNoticeContent,
    SealCheck,
    check_seal,
    content_from,
    contradictions,
    opened,
)
from shared.crypto.keyring import PublicKey
from shared.crypto.personal import DecryptionFailed, PersonalData, place
from shared.db import insert_if_absent
from shared.errors import Conflict, Invalid, NotFound
from shared.i18n import _
from shared.messaging import events
from shared.messaging.envelope import Envelope
from shared.messaging.signing import canonical_bytes
from shared.reference.localities import get_locality, is_within

log = logging.getLogger(__name__)

Kind = Literal["certificate", "rejection_notice"]
PublicKeys = Callable[[str], PublicKey | None]
REVIEWERS = ("approver", "approval_system")


def holder_name_place(number: str) -> str:
    """Where a document's holder name is bound (its AAD)."""
    return place("delivery.certificates.holder_name", number)


def kind_of(content: Content) -> Kind:
    return "rejection_notice" if isinstance(content, RejectionNoticeContent) else "certificate"


def issuer_name(content: Content) -> str:
    """The issuing office's full name as people read it: its locality's name and its
    department (合肥市 + 公安局), not the locality's code (as the printed seal shows it)."""
    locality = get_locality(content.issuer_locality)
    place_name = locality.name if locality else content.issuer_locality
    return f"{place_name}{content.issuer_department}"


def verification_code_place(number: str) -> str:
    """Where a certificate's verification code is bound (its AAD)."""
    return place("delivery.certificates.verification_code", number)


# --- the replica: issued, revoked, and where each application is received -------------------


class SealRefused(Invalid):
    """A document whose seal is not its issuer's seal over exactly its content: not registered
    (the consumer dead-letters the event, for an operator to look into)."""

    def __init__(self, number: str, check: SealCheck) -> None:
        super().__init__(
            "seal_invalid",
            f"The seal on {number} does not verify ({check.reason}); it is not registered.",
            [{"field": "document.seal", "code": check.reason or "", "message": "seal refused"}],
        )


def _document_of(
    event: events.CertificateIssued | events.RejectionNoticeIssued,
    personal: PersonalData,
    public_key: PublicKeys,
) -> Content:
    """The whole content of an issued document, its seal checked, and consistent with the
    event that announces it."""
    try:
        content = opened(event.document, personal)
    except (DecryptionFailed, ValidationError, ValueError) as exc:
        raise Invalid.of_field(
            "document_unreadable",
            f"The document of {event.application_no} does not open for delivery.",
            "document",
        ) from exc
    number = (
        event.certificate_no if isinstance(event, events.CertificateIssued) else event.notice_no
    )
    if contradictions(event, content.model_dump(mode="json")):
        raise Invalid.of_field(
            "document_mismatch",
            f"The document of {event.application_no} is not the one the event announces.",
            "document",
        )
    check = check_seal(content, event.document.seal, public_key)
    if not check.valid:
        raise SealRefused(number, check)
    return content


async def register_document(
    session: AsyncSession,
    personal: PersonalData,
    public_key: PublicKeys,
    event: events.CertificateIssued | events.RejectionNoticeIssued,
) -> bool:
    """Keep an issued document (its seal checked first); True if this call added it, False if
    it was already there (the same issue announced twice)."""
    content = _document_of(event, personal, public_key)
    stored = content.model_dump(mode="json")
    stored["holder_name"] = personal.encrypt(
        content.holder_name, where=holder_name_place(content.number)
    )
    return await insert_if_absent(
        session,
        CertificateRow,
        number=content.number,
        kind=kind_of(content),
        application_no=content.application_no,
        issuer_locality=content.issuer_locality,
        item_code=content.item_code,
        item_name=content.item_name,
        content=stored,
        seal_signer=event.document.seal.signer,
        seal_signature=event.document.seal.signature,
        issued_on=content.issued_on,
        valid_until=content.valid_until if isinstance(content, CertificateContent) else None,
        received_at=clock.now(),
        verifications=0,
    )


async def revoke(
    session: AsyncSession, event: events.CertificateRevoked, envelope: Envelope
) -> None:
    """The issuer revoked a certificate: it no longer verifies, and is no longer printed. The
    signed event (its signature checked by the consumer) is kept with the row: verification
    checks it again instead of trusting a column."""
    row = await session.get(CertificateRow, event.certificate_no, with_for_update=True)
    if row is None:
        raise NotFound(
            "certificate_not_found", f"{event.certificate_no} is not in the registry to revoke."
        )
    if row.issuer_locality != event.locality:
        # The event is sealed by `locality`; only the issuer may revoke its own certificate.
        raise Invalid.of_field(
            "not_the_issuer",
            f"{event.certificate_no} was issued by {row.issuer_locality}, not {event.locality}.",
            "locality",
        )
    if row.revocation_event is None:
        row.revoked_at, row.revoked_reason = event.revoked_at, event.reason
        row.revocation_event = canonical_bytes(envelope).decode()
        row.revocation_signature = envelope.signature
        row.revocation_signer = envelope.signer


async def record_receiving_window(
    session: AsyncSession, decided: events.ApplicationDecided
) -> None:
    """Where the application's result goes out (window pickup or post): its clerks print it."""
    await insert_if_absent(
        session,
        ReceivingWindowRow,
        application_no=decided.application_no,
        window_id=decided.window_id,
        locality=decided.receiving_locality,
        delivery_method=decided.delivery.method,
    )


# --- the registry's content, checked again ---------------------------------------------------


@dataclass(frozen=True)
class Checked:
    """A registry row read back: its content (None when it does not even read) and its seal's
    check over exactly what the row holds now."""

    content: Content | None
    seal: SealCheck


def checked(row: CertificateRow, personal: PersonalData, public_key: PublicKeys) -> Checked:
    data: dict[str, Any] = dict(row.content)
    # The columns are part of what the registry says: the seal must cover them too.
    data.update(
        number=row.number,
        application_no=row.application_no,
        issuer_locality=row.issuer_locality,
        item_code=row.item_code,
        item_name=row.item_name,
        issued_on=row.issued_on.isoformat(),
    )
    if row.kind == "certificate":
        data["valid_until"] = row.valid_until.isoformat() if row.valid_until else None
    broken = Checked(None, SealCheck(False, "signature_invalid"))
    try:
        data["holder_name"] = personal.decrypt(
            str(data.get("holder_name")), where=holder_name_place(row.number)
        )
        content = content_from(data)
    except (DecryptionFailed, ValidationError, ValueError):
        return broken
    if kind_of(content) != row.kind:
        return broken
    try:
        signature = base64.b64decode(row.seal_signature, validate=True)
    except (binascii.Error, ValueError):
        return Checked(content, SealCheck(False, "signature_invalid"))
    document_seal = events.DocumentSeal.model_construct(
        signer=row.seal_signer,
        algorithm="SM2-SM3",
        signature=base64.b64encode(signature).decode("ascii"),
    )
    return Checked(content, check_seal(content, document_seal, public_key))


@dataclass(frozen=True)
class Revocation:
    """A revocation the registry's row records: told by its signed CertificateRevoked, which
    is checked again; `tampered` when that no longer verifies (changed in the database). A row
    revoked before the signed events were kept has only its columns: revoked all the same (an
    unsigned revocation can only take validity away)."""

    tampered: bool
    revoked_at: datetime | None
    reason: str | None


def revocation(row: CertificateRow, public_key: PublicKeys) -> Revocation | None:
    """The row's revocation, its signed event checked; None if it was never revoked."""
    if row.revocation_event is None:
        if row.revoked_at is None and row.revoked_reason is None:
            return None
        return Revocation(False, row.revoked_at, row.revoked_reason)
    revoked = _signed_revocation(row, public_key)
    if revoked is None:
        log.error("certificate %s: its signed revocation does not verify", row.number)
        return Revocation(True, None, None)
    if row.revoked_at != revoked.revoked_at:
        log.error("certificate %s: revoked_at differs from its signed revocation", row.number)
    return Revocation(False, revoked.revoked_at, revoked.reason)


def _signed_revocation(
    row: CertificateRow, public_key: PublicKeys
) -> events.CertificateRevoked | None:
    """The kept CertificateRevoked, if its issuer's seal signed exactly these bytes and they
    revoke this very certificate."""
    message = (row.revocation_event or "").encode()
    key = public_key(row.revocation_signer or "")
    if key is None or key.name != f"seal-{row.issuer_locality}":
        return None
    try:
        signature = base64.b64decode(row.revocation_signature or "", validate=True)
        if not key.verify(message, signature):
            return None
        # The signed document: [id, type, source, subject, time, data].
        document = json.loads(message)
        if not isinstance(document, list) or len(document) != 6:
            return None
        if document[1] != events.CertificateRevoked.event_type:
            return None
        revoked = events.CertificateRevoked.model_validate(document[5])
    except (binascii.Error, ValueError, TypeError, ValidationError):
        return None
    if (revoked.certificate_no, revoked.locality) != (row.number, row.issuer_locality):
        return None
    return revoked


# --- printing at the receiving window ---------------------------------------------------------


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


async def print_document(
    session: AsyncSession,
    caller: Principal,
    number: str,
    *,
    personal: PersonalData,
    public_key: PublicKeys,
    public_base_url: str,
) -> Print:
    """Record a print of `number` by `caller` and give what to render. Anyone who may not print
    it is told it does not exist (as API.md's own_locality scope does)."""
    row = await session.get(CertificateRow, number, with_for_update=True)
    if row is None or not await may_print(session, row, caller):
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
    locality = get_locality(content.issuer_locality)
    return Print(
        PrintableDocument(
            kind=kind_of(content),
            number=content.number,
            item_code=content.item_code,
            item_name=content.item_name,
            holder_name=content.holder_name,
            issuer_locality=content.issuer_locality,
            issuer_name=locality.name if locality else content.issuer_locality,
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
    """The certificate's verification code, made at its first print (the row is locked)."""
    if row.verification_code is not None:
        return personal.decrypt(row.verification_code, where=verification_code_place(row.number))
    code = secrets.token_urlsafe(16)  # 128 bits
    row.verification_code = personal.encrypt(code, where=verification_code_place(row.number))
    row.verification_code_digest = code_digest(code)
    return code
