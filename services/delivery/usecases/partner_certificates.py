"""跨省通办: a partner province's certificate for an application this province's window handed
over, registered, then printed at the receiving window or posted, like one of this province's
own (contracts/federation.md §11).

Routing said at the hand-over what delivery would need (DeliveryExpected: the window, the
delivery chosen, the names, ID numbers and address sealed for delivery); the gateway publishes
the partner's certificate with the seal key the partner's trusted anchor names for the issuing
locality (PartnerCertificateReceived). The holder's name on the certificate is sealed for the
partner's own services and its ID digest keyed by the partner, so this province's application
is the reference: its holder's name, put back into the content, must make the partner's seal
verify (a certificate for anyone else does not), and the hand-over checks the ID number against
a digest made with this province's key. One that comes before routing's fact waits for it.
"""

from __future__ import annotations

import logging
from functools import cache
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.delivery.db import PartnerDeliveryRow
from services.delivery.usecases import documents, print_jobs
from shared.certificates import CertificateContent, check_seal, content_from
from shared.crypto.personal import DecryptionFailed
from shared.db import insert_if_absent
from shared.errors import Invalid
from shared.identity import id_number_digest
from shared.messaging import events
from shared.messaging.consumer import NotYet
from shared.messaging.outbox import Outbox
from shared.settings import get_settings

log = logging.getLogger(__name__)


class NotYetExpected(NotYet):
    """Routing's DeliveryExpected for the application has not been read yet."""


@cache
def digest_key() -> bytes:
    """PII_DIGEST_KEY, as the hand-over checks ID numbers with it (the settings')."""
    return get_settings().pii_digest_key.get_secret_value().encode()


async def record_expected(session: AsyncSession, expected: events.DeliveryExpected) -> None:
    """Keep what the partner's certificate will need here, once."""
    await insert_if_absent(
        session,
        PartnerDeliveryRow,
        application_no=expected.application_no,
        partner_province=expected.partner_province,
        competent_locality=expected.competent_locality,
        receiving_locality=expected.receiving_locality,
        window_id=expected.window_id,
        item_code=expected.item_code,
        item_name=expected.item_name,
        delivery_method=expected.delivery.method,
        holder_name_masked=expected.holder_name_masked,
        agent_name_masked=expected.agent_name_masked,
        personal_data=expected.personal_data.model_dump(),
        expected_at=expected.expected_at,
    )


def _refused(code: str, message: str) -> Invalid:
    return Invalid.of_field(code, message, "document")


def _content(received: events.PartnerCertificateReceived, holder_name: str) -> CertificateContent:
    """The certificate's whole content: the partner's, with the holder's name put back."""
    try:
        content = content_from({**received.document.content, "holder_name": holder_name})
    except ValueError as exc:
        raise _refused("document_unreadable", f"{received.certificate_no} does not read.") from exc
    stated = (
        received.certificate_no,
        received.application_no,
        received.locality,
        received.issued_on,
        received.valid_until,
    )
    if (
        not isinstance(content, CertificateContent)
        or (
            content.number,
            content.application_no,
            content.issuer_locality,
            content.issued_on,
            content.valid_until,
        )
        != stated
    ):
        raise _refused(
            "document_mismatch",
            f"The document of {received.application_no} is not the one the event announces.",
        )
    return content


async def receive(
    session: AsyncSession, outbox: Outbox, received: events.PartnerCertificateReceived
) -> None:
    """Register the partner's certificate (its seal checked with the anchor's key over the
    content with this province's holder's name) and queue it at the receiving window or for
    the post; the same certificate twice is registered and queued once."""
    expected = await session.get(PartnerDeliveryRow, received.application_no, with_for_update=True)
    if expected is None:
        raise NotYetExpected(f"routing's hand-over of {received.application_no} not read yet")
    province = expected.partner_province
    if received.from_province != province or received.locality[:2] != province:
        raise _refused(
            "not_the_partner",
            f"{received.application_no} was handed to {expected.partner_province}.",
        )
    personal = outbox.personal_data()
    try:
        clear: dict[str, Any] = personal.unseal(
            expected.personal_data, context=received.application_no
        )
    except DecryptionFailed as exc:
        raise _refused(
            "personal_data_unreadable", f"{received.application_no} does not open for delivery."
        ) from exc
    content = _content(received, str(clear["holder_name"]))
    key = received.seal_key
    partner = {
        "kid": key.kid,
        "locality": key.locality,
        "province": received.from_province,
        "public_key": key.public_key,
        "revoked_at": key.revoked_at.isoformat() if key.revoked_at else None,
    }
    public = documents.partner_seal_key(partner)
    check = check_seal(
        content, received.document.seal, lambda kid: public if kid == public.kid else None
    )
    if not check.valid:
        raise documents.SealRefused(content.number, check)
    await documents.keep_document(
        session, personal, content, received.document.seal, partner_seal=partner
    )
    expected.certificate_no = content.number
    approved = _as_approved(expected, received, clear)
    await print_jobs.queue_certificate(session, outbox, approved)
    await documents.record_receiving_window(session, approved)
    log.info(
        "delivery: %s of province %s queued for %s (%s)",
        content.number,
        received.from_province,
        expected.window_id,
        expected.delivery_method,
    )


def _as_approved(
    expected: PartnerDeliveryRow,
    received: events.PartnerCertificateReceived,
    clear: dict[str, Any],
) -> events.ApplicationApproved:
    """The partner's approval as this province's delivery queues one: this province's window,
    item, delivery and holder (its ID digest keyed here), the partner's certificate."""
    key = digest_key()
    address = clear.get("postal_address")
    agent_id = clear.get("agent_id_number")
    return events.ApplicationApproved(
        application_no=expected.application_no,
        locality=received.locality,
        item_code=expected.item_code,
        decided_at=received.received_at,
        receiving_locality=expected.receiving_locality,
        window_id=expected.window_id,
        holder_name_masked=expected.holder_name_masked,
        holder_id_digest=id_number_digest(str(clear["holder_id_number"]), key),
        delivery=events.Delivery(
            method=expected.delivery_method,
            address=events.PostalAddress.model_validate(address) if address else None,
        ),
        agent_name_masked=expected.agent_name_masked,
        agent_id_digest=id_number_digest(str(agent_id), key) if agent_id else None,
        certificate_no=received.certificate_no,
        item_name=expected.item_name,
    )
