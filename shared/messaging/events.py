"""Versioned event contracts (payloads of the CloudEvents on Kafka).

These models are the published contract for local approval systems: JSON Schemas are generated
from them (`tongban contracts`) and committed under contracts/. Adding an optional field is a
compatible change; anything else is a new `.v2` type published side by side.
"""

from __future__ import annotations

from datetime import date
from typing import ClassVar, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict


class EventPayload(BaseModel):
    """Base of every payload; `event_type` is the CloudEvents `type` it travels under."""

    model_config = ConfigDict(extra="allow", frozen=True)
    event_type: ClassVar[str]

    application_no: str


class Applicant(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)

    kind: Literal["person", "enterprise"]
    name: str
    id_type: Literal["resident_id", "uscc"]
    id_number: str
    phone: str
    locality: str


class PostalAddress(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)

    recipient: str
    phone: str
    locality: str
    line: str


class Delivery(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)

    method: Literal["window_pickup", "postal"]
    address: PostalAddress | None = None


class SubmittedMaterial(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)

    material_code: str
    sha256: str
    original_verified: bool = False


class ApplicationAccepted(EventPayload):
    """An application was accepted at a window (intake → tongban.intake.events)."""

    event_type: ClassVar[str] = "gov.tongban.application.accepted.v1"

    item_code: str
    item_name: str
    applicant: Applicant
    property_locality: str | None = None
    receiving_locality: str
    window_id: str
    competent_locality: str
    department: str
    materials: list[SubmittedMaterial]
    commitments: list[str] = []
    deferred: list[str] = []
    delivery: Delivery
    accepted_at: AwareDatetime
    promised_date: date
    statutory_days: int
    promised_days: int


class ApplicationRouted(ApplicationAccepted):
    """Routing handed the application to its competent locality
    (routing → tongban.approval.requests.<locality>). Carries the whole application so a local
    approval system needs nothing else."""

    event_type: ClassVar[str] = "gov.tongban.application.routed.v1"

    routed_at: AwareDatetime


class CaseOpened(EventPayload):
    """The competent locality opened a review case (approval → tongban.approval.events)."""

    event_type: ClassVar[str] = "gov.tongban.case.opened.v1"

    locality: str
    deadline: date
    opened_at: AwareDatetime


class ApplicationDecided(EventPayload):
    """Common shape of approval decisions (not published itself).

    tongban.approval.events is read province-wide, so it carries no identity in clear: the
    holder's name masked, and a keyed digest of the ID number that delivery checks at hand-over.
    """

    locality: str
    item_code: str
    decided_at: AwareDatetime
    reason: str | None = None
    receiving_locality: str
    window_id: str
    holder_name_masked: str
    holder_id_digest: str
    delivery: Delivery


class ApplicationApproved(ApplicationDecided):
    """The competent locality approved; a certificate was issued (approval →
    tongban.approval.events). Delivery queues it at the receiving window or posts it."""

    event_type: ClassVar[str] = "gov.tongban.application.approved.v1"

    certificate_no: str
    item_name: str


class ApplicationRejected(ApplicationDecided):
    """The competent locality rejected, with its reason (approval → tongban.approval.events)."""

    event_type: ClassVar[str] = "gov.tongban.application.rejected.v1"


class CertificateReadyForPickup(EventPayload):
    """The certificate waits in the print queue of the receiving window (delivery)."""

    event_type: ClassVar[str] = "gov.tongban.certificate.ready_for_pickup.v1"

    certificate_no: str
    window_id: str
    locality: str
    queued_at: AwareDatetime


class CertificateDelivered(EventPayload):
    """The certificate was handed over (or the carrier reported delivery)."""

    event_type: ClassVar[str] = "gov.tongban.certificate.delivered.v1"

    certificate_no: str
    locality: str
    window_id: str | None = None
    delivered_at: AwareDatetime
    channel: Literal["window", "postal"]


EVENT_TYPES: dict[str, type[EventPayload]] = {
    model.event_type: model
    for model in (
        ApplicationAccepted,
        ApplicationRouted,
        CaseOpened,
        ApplicationApproved,
        ApplicationRejected,
        CertificateReadyForPickup,
        CertificateDelivered,
    )
}
