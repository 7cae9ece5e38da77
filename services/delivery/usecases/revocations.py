"""A certificate's revocation in delivery's replica of the registry: kept as the issuer's signed
CertificateRevoked, and checked again whenever a document is printed or verified, so a
revocation changed in the database reads as `revocation_invalid` instead of vouching for
itself."""

from __future__ import annotations

import base64
import binascii
import json
import logging
from dataclasses import dataclass
from datetime import datetime

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from services.delivery.db import CertificateRow
from services.delivery.usecases.documents import PublicKeys
from shared.errors import Invalid, NotFound
from shared.messaging import events
from shared.messaging.envelope import Envelope
from shared.messaging.signing import canonical_bytes

log = logging.getLogger(__name__)


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
