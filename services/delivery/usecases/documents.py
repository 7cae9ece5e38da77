"""Delivery's replica of the province's certificate registry (电子证照 and 不予许可决定书), and
what it is for: printing a document at the receiving window (printing.py), and verifying one for
anyone (verification.py).

Approval issues and seals (CertificateIssued, RejectionNoticeIssued, CertificateRevoked on
tongban.approval.events); delivery opens the holder's name sealed for it, checks the seal, and
keeps the document: its content as JSON with the holder's name encrypted, and the seal, and
a revocation as the issuer's signed event (revocations.py). Every answer about a document
(print, verify) checks the seal and the revocation again over what the registry holds, so a
row changed in the database verifies as `signature_invalid` (or `revocation_invalid`) instead
of vouching for itself.

Certificate numbers are sequential: public verification takes the number and a verification
code of 128 random bits, which only the printed QR code carries. Rejection notices are the
applicant's, and not publicly verifiable.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from services.delivery.db import CertificateRow, ReceivingWindowRow
from shared import clock
from shared.certificates import (
    CertificateContent,
    Content,
    RejectionNoticeContent,
    SealCheck,
    check_seal,
    content_from,
    contradictions,
    opened,
    seal_name,
)
from shared.crypto.keyring import PublicKey
from shared.crypto.personal import DecryptionFailed, PersonalData, place
from shared.db import insert_if_absent
from shared.errors import Invalid
from shared.federation.agreements import AGREEMENTS
from shared.messaging import events
from shared.reference.localities import get_locality

Kind = Literal["certificate", "rejection_notice"]
PublicKeys = Callable[[str], PublicKey | None]


def holder_name_place(number: str) -> str:
    """Where a document's holder name is bound (its AAD)."""
    return place("delivery.certificates.holder_name", number)


def kind_of(content: Content) -> Kind:
    return "rejection_notice" if isinstance(content, RejectionNoticeContent) else "certificate"


def locality_name(code: str) -> str:
    """A locality's name: this province's, or a partner province's (跨省通办: the issuer of a
    partner's certificate, from the agreements' reference data); its code when unknown."""
    locality = get_locality(code) or AGREEMENTS.partner_localities.get(code)
    return locality.name if locality else code


def issuer_name(content: Content) -> str:
    """The issuing office's full name as people read it: its locality's name and its
    department (合肥市 + 公安局), not the locality's code (as the printed seal shows it)."""
    return f"{locality_name(content.issuer_locality)}{content.issuer_department}"


def partner_seal_key(partner: dict[str, Any]) -> PublicKey:
    """A partner province's seal key as kept with its certificate ({kid, locality, province,
    public_key, revoked_at}: what its anchor names)."""
    revoked = partner.get("revoked_at")
    return PublicKey(
        kid=str(partner["kid"]),
        name=seal_name(str(partner["locality"])),
        algorithm="SM2-SM3",
        public_key=base64.b64decode(str(partner["public_key"])),
        valid_from=datetime.min.replace(tzinfo=UTC),
        revoked_at=datetime.fromisoformat(revoked) if revoked else None,
    )


def seal_keys_of(row: CertificateRow, public_key: PublicKeys) -> PublicKeys:
    """The keys a row's seal is checked with: the trust list's, or for a partner province's
    certificate, the one seal key its anchor named (kept with the row)."""
    if not row.partner_seal:
        return public_key
    key = partner_seal_key(row.partner_seal)
    return lambda kid: key if kid == key.kid else None


def verification_code_place(number: str) -> str:
    """Where a certificate's verification code is bound (its AAD)."""
    return place("delivery.certificates.verification_code", number)


# --- the replica: issued, and where each application is received ------------------------------


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
    return await keep_document(session, personal, content, event.document.seal)


async def keep_document(
    session: AsyncSession,
    personal: PersonalData,
    content: CertificateContent | RejectionNoticeContent,
    seal: events.DocumentSeal,
    *,
    partner_seal: dict[str, Any] | None = None,
) -> bool:
    """The registry's row of a document whose seal was checked: as issued, the holder's name
    sealed for delivery (a partner province's certificate also keeps the seal key its anchor
    named); True if this call added it."""
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
        seal_signer=seal.signer,
        seal_signature=seal.signature,
        issued_on=content.issued_on,
        valid_until=content.valid_until if isinstance(content, CertificateContent) else None,
        received_at=clock.now(),
        verifications=0,
        # Left out, not None, for this province's own: the JSON column would store a JSON null.
        **({"partner_seal": partner_seal} if partner_seal is not None else {}),
    )


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
    return Checked(content, check_seal(content, document_seal, seal_keys_of(row, public_key)))
