"""Public verification of a certificate in delivery's replica of the registry: asked with the
number and the verification code only its printed QR code carries (printing.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal

from sqlalchemy import update

from services.delivery.db import CertificateRow
from services.delivery.domain import code_digest
from services.delivery.usecases.documents import (
    Kind,
    PublicKeys,
    checked,
    issuer_name,
    kind_of,
)
from services.delivery.usecases.revocations import revocation
from shared import clock
from shared.certificates import CertificateContent
from shared.crypto.personal import PersonalData
from shared.db import Database
from shared.errors import NotFound
from shared.i18n import _
from shared.identity import mask_name

# --- public verification ------------------------------------------------------------------------

Reason = Literal[
    "signature_invalid",
    "unknown_seal",
    "not_issuers_seal",
    "seal_revoked",
    "revoked",
    "revocation_invalid",
    "expired",
]


@dataclass(frozen=True)
class Verification:
    valid: bool
    number: str
    reason: Reason | None = None
    kind: Kind | None = None
    issuer_locality: str | None = None
    item_code: str | None = None
    holder_name_masked: str | None = None
    issued_at: date | None = None
    valid_until: date | None = None
    revoked_at: datetime | None = None
    verifications: int | None = None
    # For the page a person reads (not in the JSON answer, which stays as it was): the issuing
    # office's full name (合肥市公安局), the item's name, and why the issuer revoked it.
    issuer_name: str | None = None
    item_name: str | None = None
    revoked_reason: str | None = None


def not_found() -> NotFound:
    # The same words whatever was asked: an answer that named the number, or told an unknown
    # number from a wrong code, would let numbers be enumerated.
    return NotFound("certificate_not_found", _("No certificate with this number and code."))


async def verify(
    db: Database,
    number: str,
    code: str | None,
    *,
    personal: PersonalData,
    public_key: PublicKeys,
) -> Verification:
    """What the registry says of certificate `number`, asked with its verification `code`:
    without the right code it is not found, as an unknown number is (numbers are sequential),
    and so is every rejection notice. Its seal and any revocation are checked again, the
    verification counted (in a small transaction of its own). Details only for a document
    whose seal holds: a changed or forged row vouches for nothing."""
    # The Database, not the request's session: the count commits (and its row lock ends)
    # before the seal and the revocation are checked, which takes CPU.
    if not code:
        raise not_found()
    async with db.transaction() as session:
        count = await session.scalar(
            update(CertificateRow)
            .where(
                CertificateRow.number == number,
                CertificateRow.kind == "certificate",
                CertificateRow.verification_code_digest == code_digest(code),
            )
            .values(verifications=CertificateRow.verifications + 1, last_verified_at=clock.now())
            .returning(CertificateRow.verifications)
        )
        row = await session.get(CertificateRow, number) if count is not None else None
    if row is None or count is None:
        raise not_found()
    check = checked(row, personal, public_key)
    if check.content is None or not check.seal.valid:
        return Verification(False, number, check.seal.reason, verifications=count)
    revoked = revocation(row, public_key)
    if revoked is not None and revoked.tampered:
        # The signed revocation was changed: the row vouches for nothing.
        return Verification(False, number, "revocation_invalid", verifications=count)
    content = check.content
    valid_until = content.valid_until if isinstance(content, CertificateContent) else None
    reason: Reason | None = None
    if revoked is not None:
        reason = "revoked"
    elif valid_until is not None and valid_until < clock.today():
        reason = "expired"
    return Verification(
        valid=reason is None,
        number=number,
        reason=reason,
        kind=kind_of(content),
        issuer_locality=content.issuer_locality,
        item_code=content.item_code,
        holder_name_masked=mask_name(content.holder_name),
        issued_at=content.issued_on,
        valid_until=valid_until,
        revoked_at=revoked.revoked_at if revoked is not None else None,
        verifications=count,
        issuer_name=issuer_name(content),
        item_name=content.item_name,
        revoked_reason=revoked.reason if revoked is not None else None,
    )
