"""异地代收代办: what this province's delivery needs when the partner's certificate comes back
for an application handed over (contracts/federation.md §11). The partner's certificate holds
the holder's name sealed for the partner's own services and an ID digest keyed by the partner,
so this province's own application is the reference: its names, ID numbers and postal address
go sealed for delivery, beside the window and the delivery chosen."""

from __future__ import annotations

from datetime import datetime

from shared.crypto.personal import PersonalData
from shared.identity import mask_name
from shared.messaging import events


def delivery_expected(
    personal: PersonalData,
    accepted: events.ApplicationAccepted,
    competent_locality: str,
    now: datetime,
) -> events.DeliveryExpected:
    """`accepted` with its personal data in clear (routing opened it)."""
    agent = accepted.agent
    address = accepted.delivery.address
    clear = {
        "holder_name": accepted.applicant.name,
        "holder_id_number": accepted.applicant.id_number,
        "agent_name": agent.name if agent else None,
        "agent_id_number": agent.id_number if agent else None,
        "postal_address": address.model_dump(mode="json") if address else None,
    }
    sealed = personal.seal_for("delivery", clear, context=accepted.application_no)
    return events.DeliveryExpected(
        application_no=accepted.application_no,
        partner_province=competent_locality[:2],
        competent_locality=competent_locality,
        receiving_locality=accepted.receiving_locality,
        window_id=accepted.window_id,
        item_code=accepted.item_code,
        item_name=accepted.item_name,
        holder_name_masked=mask_name(accepted.applicant.name),
        agent_name_masked=mask_name(agent.name) if agent else None,
        delivery=events.masked_delivery(accepted.delivery),
        personal_data=events.Sealed.model_validate(sealed),
        expected_at=now,
    )
