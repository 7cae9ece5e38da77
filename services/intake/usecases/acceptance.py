"""What an accepted application writes: its row, first timeline entry, event and answer."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from pydantic import TypeAdapter

from services.intake import domain
from services.intake.db import bound
from services.intake.usecases.judging import Accept, Answer, SubmitApplication
from services.intake.usecases.scans import with_scan
from shared import clock
from shared.crypto.personal import place
from shared.i18n import N_
from shared.identity import mask_name
from shared.messaging import events
from shared.messaging.outbox import Outbox
from shared.telemetry import current_trace_id
from shared.vocabulary import ApplicationStatus
from shared.workdays import add_working_days


@dataclass(frozen=True)
class Accepted:
    """The answer to an accepted application, field for field the contract's
    ApplicationAcceptedOut (API.md). Shaped here, as JSON, because it is written with its
    Idempotency-Key in the acceptance's own statement and replayed as it is on retry."""

    application_no: str
    status: ApplicationStatus
    item_code: str
    receiving_locality: str
    window_id: str
    competent_locality: str
    department: str
    promised_date: date
    accepted_at: datetime
    deferred: list[str]
    deferred_due_on: date | None = None
    catalog_version: str | None = None


_ACCEPTED = TypeAdapter(Accepted)


def acceptance_of(
    command: SubmitApplication,
    verdict: Accept,
    outbox: Outbox,
    sequence: int,
    *,
    bundle_no: str | None = None,
    reserved_no: str | None = None,
) -> tuple[Answer, dict[str, Any]]:
    """`bundle_no`: a child of that bundle application (一件事); `reserved_no`: the number a
    held child was given in its bundle's receipt, accepted now that it is released."""
    clerk, body = command.clerk, command.body
    assert clerk.window_id is not None
    window_id = clerk.window_id
    item, resolution = verdict.item, verdict.resolution
    now = clock.now()
    today = now.date()
    application_no = reserved_no or domain.application_number(clerk.locality, today, sequence)
    promised = add_working_days(today, item.promised_days)
    deferred_due_on = add_working_days(today, item.deferred_days) if verdict.deferred else None
    applicant = body.applicant.model_dump(mode="json")
    # The scans; the materials proven by a cited certificate are `certificates`.
    materials = [
        with_scan(m.model_dump(mode="json", exclude={"certificate_no"}), verdict.scans)
        for m in body.materials
        if m.sha256 is not None
    ]
    certificates = [c.model_dump(mode="json") for c in verdict.certificates]
    delivery = body.delivery.model_dump(mode="json")
    agent = body.agent.model_dump(mode="json") if body.agent else None
    personal = outbox.personal_data()
    # Personal data is stored encrypted, each value bound to its column and application.
    application = {
        "application_no": application_no,
        "item_code": item.item_code,
        "status": ApplicationStatus.ACCEPTED,
        "applicant": personal.encrypt_json(
            applicant, where=application_place("applicant", application_no)
        ),
        "property_locality": body.property_locality,
        "receiving_locality": clerk.locality,
        "window_id": window_id,
        "competent_locality": resolution.competent_locality,
        "routed_locality": None,  # until routing's fact is read
        "transferring_to": None,
        "department": resolution.department,
        "materials": materials,
        "commitments": body.commitments,
        "deferred": verdict.deferred,
        "deferred_due_on": deferred_due_on,
        "requested_materials": None,
        "delivery": personal.encrypt_json(
            delivery, where=application_place("delivery", application_no)
        ),
        "agent": personal.encrypt_optional(agent, where=application_place("agent", application_no)),
        "agent_name_masked": mask_name(body.agent.name) if body.agent else None,
        "promised_date": promised,
        "accepted_at": now,
        "accepted_by": clerk.sub,
        "catalog_version": verdict.catalog_version,
        "updated_at": now,
        "certificates": certificates,
        "trace_id": current_trace_id(),
        "bundle_no": bundle_no,
    }
    first_entry = {
        "application_no": application_no,
        "at": now,
        "status": ApplicationStatus.ACCEPTED,
        "locality": clerk.locality,
        "note": (
            N_("Applied online, accepted at window {window_id}")
            if command.channel == "online"
            else N_("Accepted at window {window_id}")
        ),
        "note_params": {"window_id": window_id},
    }
    # tongban.intake.events is read province-wide: the personal data on it is masked, and
    # travels in clear only sealed for routing, which hands it to the competent locality.
    sealed = personal.seal_for(
        "routing",
        {"applicant": applicant, "delivery": delivery, "agent": agent},
        context=application_no,
    )
    accepted = events.ApplicationAccepted(
        application_no=application_no,
        item_code=item.item_code,
        item_name=item.name,
        applicant=events.masked_applicant(events.Applicant.model_validate(applicant)),
        property_locality=body.property_locality,
        receiving_locality=clerk.locality,
        window_id=window_id,
        competent_locality=resolution.competent_locality,
        department=resolution.department,
        materials=[events.SubmittedMaterial.model_validate(m) for m in materials],
        commitments=body.commitments,
        deferred=verdict.deferred,
        delivery=events.masked_delivery(events.Delivery.model_validate(delivery)),
        accepted_at=now,
        promised_date=promised,
        statutory_days=item.statutory_days,
        promised_days=item.promised_days,
        agent=events.masked_agent(events.Agent.model_validate(agent) if agent else None),
        deferred_due_on=deferred_due_on,
        catalog_version=verdict.catalog_version,
        certificates=verdict.certificates,
        personal_data=events.Sealed.model_validate(sealed),
        channel=command.channel,
        bundle_no=bundle_no,
    )
    _, announcement = outbox.row_for(accepted)
    out = Accepted(
        application_no=application_no,
        status=ApplicationStatus.ACCEPTED,
        item_code=item.item_code,
        receiving_locality=clerk.locality,
        window_id=window_id,
        competent_locality=resolution.competent_locality,
        department=resolution.department,
        promised_date=promised,
        accepted_at=now,
        deferred=verdict.deferred,
        deferred_due_on=deferred_due_on,
        catalog_version=verdict.catalog_version,
    )
    values = {
        **bound("app_", application),
        **bound("entry_", first_entry),
        **bound("event_", announcement),
    }
    return Answer(201, _ACCEPTED.dump_python(out, mode="json")), values


def application_place(column: str, application_no: str) -> str:
    """Where a personal-data column of intake's applications is bound (its AAD)."""
    return place(f"intake.applications.{column}", application_no)
