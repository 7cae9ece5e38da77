"""Sealed documents (电子证照 and 不予许可决定书): what a locality's electronic seal covers, how it
is made and checked, and how a document travels province-wide without the holder's name in
clear.

A document is its content as canonical JSON (RFC 8785, shared.canonical), sealed with the
issuing locality's seal key `seal-<locality>` (SM2 with SM3, GB/T 38540's signature algorithm)
through the key ring's `Signer` interface, so a hardware cryptographic module can hold the seal
in production. Anyone with the published public keys (GET /v1/seals, the trust list) checks
it; contracts/CERTIFICATES.md gives the recipe.

Approval issues and seals; delivery keeps the registry it prints and verifies from; intake keeps
what it needs to let an application cite a certificate instead of a material (免证办).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.bounds import Code, Line, Name, Reason
from shared.canonical import canonical_json
from shared.clock import CHINA_TZ
from shared.crypto.keyring import PublicKey, Signer, key_name
from shared.crypto.personal import PersonalData
from shared.identity import mask_name
from shared.messaging.events import (
    CertificateIssued,
    DocumentSeal,
    PublishedDocument,
    RejectionNoticeIssued,
    Sealed,
)
from shared.reference.localities import LocalityCode

CERTIFICATE: Literal["tongban.certificate.v1"] = "tongban.certificate.v1"
REJECTION_NOTICE: Literal["tongban.rejection_notice.v1"] = "tongban.rejection_notice.v1"
# The service that prints documents, and so the one the holder's name is sealed for.
PRINTER = "delivery"


class DocumentContent(BaseModel):
    """What the seal covers; every value a string (dates ISO), so the canonical JSON is plain."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    format: str
    number: Code
    application_no: Code
    item_code: Code
    item_name: Line
    holder_name: Name
    # Keyed SM3-HMAC digest of the holder's ID number (shared.identity.id_number_digest): the
    # ID itself is never on a document that travels or is verified publicly.
    holder_id_digest: str = Field(pattern=r"^[0-9a-f]{16,128}$")
    issuer_locality: LocalityCode
    issuer_department: Line
    issued_on: date


class CertificateContent(DocumentContent):
    """电子证照: the certificate an approval produces."""

    format: Literal["tongban.certificate.v1"] = CERTIFICATE
    # None: valid without limit (长期有效).
    valid_until: date | None = None


class RejectionNoticeContent(DocumentContent):
    """不予许可决定书: the sealed notice of a rejection, with its reason."""

    format: Literal["tongban.rejection_notice.v1"] = REJECTION_NOTICE
    reason: Reason


Content = CertificateContent | RejectionNoticeContent


def content_from(data: dict[str, Any]) -> Content:
    """The content model its `format` names (ValueError for an unknown format)."""
    if data.get("format") == CERTIFICATE:
        return CertificateContent.model_validate(data)
    if data.get("format") == REJECTION_NOTICE:
        return RejectionNoticeContent.model_validate(data)
    raise ValueError(f"unknown document format {data.get('format')!r}")


def canonical_document(content: Content) -> bytes:
    """The bytes the seal signs: the RFC 8785 (JCS) bytes of the content's JSON."""
    return canonical_json(content.model_dump(mode="json"))


def seal_name(locality: str) -> str:
    """The key ring name of a locality's electronic seal."""
    return f"seal-{locality}"


def seal(content: Content, signer: Signer) -> DocumentSeal:
    """Seal `content` with `signer`, which must be the issuer's seal."""
    if key_name(signer.kid) != seal_name(content.issuer_locality):
        raise ValueError(f"{signer.kid} is not the seal of {content.issuer_locality}")
    signature = signer.sign(canonical_document(content))
    return DocumentSeal(
        signer=signer.kid,
        algorithm="SM2-SM3",
        signature=base64.b64encode(signature).decode("ascii"),
    )


# Why a document does not verify; API.md's `valid: false` carries one of these as `reason`.
Flaw = Literal["unknown_seal", "not_issuers_seal", "seal_revoked", "signature_invalid"]


@dataclass(frozen=True)
class SealCheck:
    valid: bool
    reason: Flaw | None = None
    key: PublicKey | None = None


def check_seal(
    content: Content, document_seal: DocumentSeal, public_key: Callable[[str], PublicKey | None]
) -> SealCheck:
    """Whether `document_seal` is the issuer's seal on exactly this content. `public_key`
    looks a key id up in the trust list (current and retired: a certificate sealed before a
    rotation still verifies; not by a seal revoked before the document's day ended)."""
    key = public_key(document_seal.signer)
    if key is None or key.algorithm != "SM2-SM3":
        return SealCheck(False, "unknown_seal")
    if key.name != seal_name(content.issuer_locality):
        return SealCheck(False, "not_issuers_seal", key)
    # A document is dated by its issue day (Beijing time), sealed somewhen within it: a seal
    # revoked by the day's end may have sealed it after, one retired before the day began did
    # not seal it at all.
    day_begins = datetime.combine(content.issued_on, time.min, CHINA_TZ)
    if not key.usable(day_begins, day_begins + timedelta(days=1, microseconds=-1)):
        return SealCheck(False, "seal_revoked", key)
    try:
        signature = base64.b64decode(document_seal.signature, validate=True)
    except (binascii.Error, ValueError):
        return SealCheck(False, "signature_invalid", key)
    if not key.verify(canonical_document(content), signature):
        return SealCheck(False, "signature_invalid", key)
    return SealCheck(True, None, key)


def contradictions(
    event: CertificateIssued | RejectionNoticeIssued, content: Mapping[str, Any]
) -> list[str]:
    """The fields of a document's content (JSON form: `content.model_dump(mode="json")` or a
    PublishedDocument's `content`) that the event announcing it states otherwise; a registry
    keeps a document only when there are none."""
    stated: dict[str, str | None] = {
        "application_no": event.application_no,
        "issuer_locality": event.locality,
        "item_code": event.item_code,
        "issued_on": event.issued_on.isoformat(),
    }
    if isinstance(event, CertificateIssued):
        stated |= {
            "format": CERTIFICATE,
            "number": event.certificate_no,
            "holder_id_digest": event.holder_id_digest,
            "valid_until": event.valid_until.isoformat() if event.valid_until else None,
        }
    else:
        stated |= {"format": REJECTION_NOTICE, "number": event.notice_no}
    return sorted(name for name, value in stated.items() if content.get(name) != value)


def published(
    content: Content, document_seal: DocumentSeal, personal: PersonalData
) -> PublishedDocument:
    """The document as it may travel province-wide: the holder's name masked, and sealed for
    the printer (bound to the application number)."""
    public = content.model_dump(mode="json", exclude={"holder_name"})
    return PublishedDocument(
        content=public,
        holder_name_masked=mask_name(content.holder_name),
        holder_name=Sealed.model_validate(
            personal.seal_for(PRINTER, content.holder_name, context=content.application_no)
        ),
        seal=document_seal,
    )


def opened(document: PublishedDocument, personal: PersonalData) -> Content:
    """The whole content back (the printer only: it opens the holder's name). DecryptionFailed
    if the name was not sealed for this service and application; ValueError (pydantic's
    ValidationError) if the content is malformed."""
    application_no = str(document.content.get("application_no") or "")
    name = personal.unseal(document.holder_name.model_dump(), context=application_no)
    return content_from({**document.content, "holder_name": name})


__all__ = [
    "CERTIFICATE",
    "REJECTION_NOTICE",
    "CertificateContent",
    "Content",
    "DocumentContent",
    "RejectionNoticeContent",
    "SealCheck",
    "canonical_document",
    "check_seal",
    "content_from",
    "contradictions",
    "opened",
    "published",
    "seal",
    "seal_name",
]
