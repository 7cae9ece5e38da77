"""The last step of 异地代收代办 through the gateway (contracts/federation.md §11):

- in the window's province, a partner's sealed `certificate.issued` on an application handed
  over to that very partner becomes `PartnerCertificateReceived` for delivery, with the seal key
  the partner's trusted anchor names for the issuing locality (the partner's seals are not in
  this province's trust list; its anchor, imported by an operator, vouches for them);
- delivery's facts on such an application (ready for pickup, dispatched, delivered) go back to
  the competent partner, once per event;
- in the competent province, those facts from the partner whose window took the application
  are kept and logged (its ledger and `tongban federation log`), and go no further.
"""

from __future__ import annotations

import base64
import logging

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.federation.db import IncomingRow, OutgoingRow
from services.federation.usecases.outgoing import enqueue
from shared.federation.anchors import TrustedPartners
from shared.messaging import events

log = logging.getLogger(__name__)

HANDED_OVER = "application.handed_over"
CERTIFICATE_ISSUED = "certificate.issued"
# Delivery's facts at the receiving window, as the message types of §10.
DELIVERY_FACTS: dict[type[events.EventPayload], str] = {
    events.CertificateReadyForPickup: "certificate.ready_for_pickup",
    events.CertificateDispatched: "certificate.dispatched",
    events.CertificateDelivered: "certificate.delivered",
}
DELIVERY_TYPES = frozenset(DELIVERY_FACTS.values())


async def handed_to(session: AsyncSession, application_no: str | None) -> str | None:
    """The partner province this province handed `application_no` over to, if any."""
    return await session.scalar(
        select(OutgoingRow.to_province)
        .where(OutgoingRow.application_no == application_no, OutgoingRow.type == HANDED_OVER)
        .limit(1)
    )


async def send_delivery_fact(
    session: AsyncSession, event_id: str, payload: events.EventPayload
) -> str | None:
    """Queue a delivery fact of an application handed over for its competent partner (message
    id = event id: once); None (nothing queued) for any other application's."""
    number = getattr(payload, "application_no", None)
    partner = await handed_to(session, number)
    if partner is None:
        return None
    await enqueue(
        session,
        to_province=partner,
        type=DELIVERY_FACTS[type(payload)],
        body=payload.model_dump(mode="json"),
        message_id=event_id,
    )
    return partner


async def delivery_fact_received(session: AsyncSession, incoming: IncomingRow) -> bool:
    """The receiving window's report that the certificate of an application this province
    received from that province is ready, posted or handed over: kept (the inbox, the ledger);
    True if it is about such an application, logged as an error otherwise."""
    received = await session.scalar(
        select(IncomingRow.message_id).where(
            IncomingRow.application_no == incoming.application_no,
            IncomingRow.from_province == incoming.from_province,
            IncomingRow.type == HANDED_OVER,
        )
    )
    if received is None:
        log.error(
            "federation: %s %s from province %s is not about an application it handed over",
            incoming.type,
            incoming.message_id,
            incoming.from_province,
        )
        return False
    log.info(
        "federation: %s of %s reported by province %s",
        incoming.type,
        incoming.application_no,
        incoming.from_province,
    )
    return True


async def partner_certificate(
    session: AsyncSession, incoming: IncomingRow, partners: TrustedPartners
) -> events.PartnerCertificateReceived | None:
    """The partner's certificate for delivery, or None (logged) when it is not about an
    application handed over to that partner, not issued by one of its localities, or sealed
    by a key its anchor does not name for the issuing locality."""

    def refused(why: str) -> None:
        log.error(
            "federation: certificate %s from province %s is refused: %s",
            incoming.message_id,
            incoming.from_province,
            why,
        )

    if await handed_to(session, incoming.application_no) != incoming.from_province:
        refused("not about an application handed over to it")
        return None
    try:
        issued = events.CertificateIssued.model_validate(incoming.body)
    except ValueError as problem:
        refused(f"not a certificate ({str(problem)[:200]})")
        return None
    if issued.locality[:2] != incoming.from_province:
        refused(f"issued by {issued.locality}, not one of its localities")
        return None
    anchor = partners.get(incoming.from_province)
    key = anchor.seal_key(issued.document.seal.signer) if anchor else None
    if key is None or key.locality != issued.locality:
        refused(f"sealed by {issued.document.seal.signer}, which its anchor does not name")
        return None
    try:
        return events.PartnerCertificateReceived(
            application_no=issued.application_no,
            from_province=incoming.from_province,
            locality=issued.locality,
            certificate_no=issued.certificate_no,
            item_code=issued.item_code,
            issued_on=issued.issued_on,
            valid_until=issued.valid_until,
            document=issued.document,
            seal_key=events.PartnerSealKey(
                kid=key.kid,
                locality=key.locality,
                public_key=base64.b64encode(key.public_key).decode("ascii"),
                revoked_at=key.revoked_at,
            ),
            message_id=incoming.message_id,
            received_at=incoming.received_at,
        )
    except ValueError as problem:  # never blocks the log of the messages after it
        refused(f"not publishable ({str(problem)[:200]})")
        return None
