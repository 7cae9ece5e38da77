"""Certificates as approval announces them, for tests that put them on the broker themselves
(delivery's and intake's registries are fed by these events)."""

from __future__ import annotations

from shared.certificates import CertificateContent, published, seal
from shared.crypto.personal import PersonalData
from shared.messaging import events
from tests.harness import Stack


def certificate_issued(
    stack: Stack, content: CertificateContent, document_seal: events.DocumentSeal | None = None
) -> events.CertificateIssued:
    """The CertificateIssued approval would publish for `content`: sealed with the issuer's seal
    of this run's key ring (or `document_seal`, to forge one), the holder's name sealed for
    delivery."""
    ring = stack.settings.key_ring()
    document_seal = document_seal or seal(content, ring.signer(f"seal-{content.issuer_locality}"))
    return events.CertificateIssued(
        application_no=content.application_no,
        locality=content.issuer_locality,
        certificate_no=content.number,
        item_code=content.item_code,
        holder_id_digest=content.holder_id_digest,
        issued_on=content.issued_on,
        valid_until=content.valid_until,
        document=published(content, document_seal, PersonalData(ring, service="approval")),
    )
