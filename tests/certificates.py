"""Certificates as approval announces them, for tests that put them on the broker themselves
(delivery's and intake's registries are fed by these events)."""

from __future__ import annotations

from datetime import UTC, datetime

from aiokafka import AIOKafkaProducer

from shared.certificates import CertificateContent, published, seal
from shared.competence import speaking_locality
from shared.crypto.personal import PersonalData
from shared.messaging import events, topics
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


async def routed_for(
    stack: Stack, producer: AIOKafkaProducer, payload: events.ApplicationEvent
) -> None:
    """Routing's fact that the locality `payload` speaks for is competent for its application,
    as routing would have stated it: approval's events count only from that locality, so a test
    that announces them for an application no window handed in states the routing first."""
    locality = speaking_locality(payload)
    assert locality is not None, payload.event_type
    fact = events.Routed(
        application_no=payload.application_no,
        competent_locality=locality,
        department="公安局",
        receiving_locality="341200",
        routed_at=datetime.now(UTC),
    )
    await stack.publish(producer, fact, topics.ROUTING_EVENTS)


def certificate_revoked(
    application_no: str,
    certificate_no: str,
    *,
    locality: str = "340100",
    reason: str = "申请人以欺骗手段取得许可",
) -> events.CertificateRevoked:
    """The issuing locality's revocation of a certificate (吊销), revoked now by its approver."""
    return events.CertificateRevoked(
        application_no=application_no,
        locality=locality,
        certificate_no=certificate_no,
        reason=reason,
        revoked_by=f"approver-{locality}",
        revoked_at=datetime.now(UTC),
    )
