"""Versioned event contracts (payloads of the CloudEvents on Kafka).

These models are the published contract for local approval systems: JSON Schemas are generated
from them (`tongban contracts`) and committed under contracts/. A payload is signed as a whole,
and refuses any field its model does not declare (`extra="forbid"`): a consumer must never act on
a field it cannot read, nor let one ride along under another's signature (shared.messaging.
signing). So adding an optional field is compatible only in this order: every consumer first
runs with the new model, then producers send the field (until then, an event carrying it is
dead-lettered). Anything else is a new `.v2` type published side by side.

Every string and list is bounded (shared/bounds.py): a consumer validating a record refuses an
oversized or forged one instead of storing it.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, ClassVar, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from shared.bounds import (
    MAX_MATERIALS,
    MAX_RIGHTS_LIST,
    Code,
    Count,
    IdNumber,
    Line,
    Name,
    Reason,
    Sha256,
)
from shared.identity import mask_id_number, mask_name, mask_phone
from shared.reference.localities import LocalityCode
from shared.vocabulary import (
    ApplicationStatus,
    CompetentLevel,
    DeliveryMethod,
    Jurisdiction,
    Right,
    UnroutableReason,
)

# What a masked postal address line reads (the line itself travels sealed, see Sealed).
MASKED_LINE = "***"


class EventPayload(BaseModel):
    """Base of every payload; `event_type` is the CloudEvents `type` it travels under and
    `subject` its `ce_subject` and record key."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    event_type: ClassVar[str]

    @property
    def subject(self) -> str:
        raise NotImplementedError


class ApplicationEvent(EventPayload):
    """An event about one application, keyed by its number so its events stay in order."""

    application_no: Code

    @property
    def subject(self) -> str:
        return self.application_no


class Applicant(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["person", "enterprise"]
    name: Name
    id_type: Literal["resident_id", "uscc"]
    id_number: IdNumber
    phone: Code
    locality: LocalityCode


class PostalAddress(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    recipient: Name
    phone: Code
    locality: LocalityCode
    line: Line = Field(min_length=1)


class Delivery(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    method: DeliveryMethod
    address: PostalAddress | None = None


class SubmittedMaterial(BaseModel):
    """One material handed in: a reference to its scan in the blob store, never the bytes.
    `size` and `content_type` are the stored scan's, as intake checked them at upload."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    material_code: Code
    sha256: Sha256
    original_verified: bool = False
    size: Count | None = None
    content_type: Code | None = None


class CitedCertificate(BaseModel):
    """免证办: a certificate of the province's registry cited instead of a material's scan;
    intake checked that it is valid, not revoked, of an item the material allows, and the
    applicant's own."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    material_code: Code
    certificate_no: Code
    issuer_locality: LocalityCode
    item_code: Code


class Agent(BaseModel):
    """帮办代办 / 委托代办: who hands in (and may collect) for the applicant, with the scan of
    the letter of authorization."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Name
    id_type: Literal["resident_id"]
    id_number: IdNumber
    phone: Code
    authorization_sha256: Sha256


class Sealed(BaseModel):
    """Personal data encrypted for one recipient service (shared.crypto.personal.seal_for): an
    SM4 content key, encrypted to the recipient's SM2 public key `recipient` (a key id of
    public-keys.json, `sealing-<service>#n`), and the JSON it encrypts under SM4-GCM (a nonce
    of its own, bound to its context). A sender seals at most 1000 messages or 60 s with one
    content key. Only the recipient opens it; province-wide topics carry personal data in no
    other form."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    recipient: Code
    key: str = Field(min_length=1, max_length=512)
    ciphertext: str = Field(min_length=1, max_length=64 * 1024)


def masked_applicant(applicant: Applicant) -> Applicant:
    return applicant.model_copy(
        update={
            "name": mask_name(applicant.name),
            "id_number": mask_id_number(applicant.id_number),
            "phone": mask_phone(applicant.phone),
        }
    )


def masked_delivery(delivery: Delivery) -> Delivery:
    if delivery.address is None:
        return delivery
    address = delivery.address.model_copy(
        update={
            "recipient": mask_name(delivery.address.recipient),
            "phone": mask_phone(delivery.address.phone),
            "line": MASKED_LINE,
        }
    )
    return delivery.model_copy(update={"address": address})


def masked_agent(agent: Agent | None) -> Agent | None:
    if agent is None:
        return None
    return agent.model_copy(
        update={
            "name": mask_name(agent.name),
            "id_number": mask_id_number(agent.id_number),
            "phone": mask_phone(agent.phone),
        }
    )


ApplicationChannel = Literal["window", "online"]


class ApplicationAccepted(ApplicationEvent):
    """An application was accepted at a window (intake → tongban.intake.events)."""

    event_type: ClassVar[str] = "gov.tongban.application.accepted.v1"

    item_code: Code
    item_name: Line
    applicant: Applicant
    property_locality: LocalityCode | None = None
    receiving_locality: LocalityCode
    window_id: Code
    competent_locality: LocalityCode
    department: Line
    materials: list[SubmittedMaterial] = Field(max_length=MAX_MATERIALS)
    commitments: list[Code] = Field(default=[], max_length=MAX_MATERIALS)
    deferred: list[Code] = Field(default=[], max_length=MAX_MATERIALS)
    delivery: Delivery
    accepted_at: AwareDatetime
    promised_date: date
    statutory_days: Count
    promised_days: Count
    agent: Agent | None = None
    # 容缺受理: the day by which the deferred materials are due (working days per item).
    deferred_due_on: date | None = None
    # The catalog version the application was judged under (the item's standard then).
    catalog_version: Code | None = None
    # 免证办: materials proven by citing a certificate instead of a scan.
    certificates: list[CitedCertificate] = Field(default=[], max_length=MAX_MATERIALS)
    # Where it was handed in: at a window, or online through the applicants' portal (全程网办)
    # for the window the applicant chose (which receives it). Absent in events of before: window.
    channel: ApplicationChannel = "window"
    # 一件事一次办: the bundle application it is a child of (delivery hands a bundle's
    # certificates over together). Absent for an application of its own.
    bundle_no: Code | None = None
    # On tongban.intake.events (province-wide) `applicant`, `agent` and the postal address of
    # `delivery` are masked, and `personal_data` holds them in clear sealed for routing:
    # {"applicant", "delivery", "agent"}, context the application number. Routing opens it and
    # hands the whole application in clear to the competent locality (ApplicationRouted).
    personal_data: Sealed | None = None


class ApplicationSupplemented(ApplicationEvent):
    """补正 / 容缺补交: materials handed in after acceptance, at the receiving window or a window
    whose locality holds the `notify` right (intake → tongban.intake.events). References only."""

    event_type: ClassVar[str] = "gov.tongban.application.supplemented.v1"

    item_code: Code
    materials: list[SubmittedMaterial] = Field(min_length=1, max_length=MAX_MATERIALS)
    receiving_locality: LocalityCode
    window_id: Code
    competent_locality: LocalityCode
    supplemented_at: AwareDatetime


class SupplementRouted(ApplicationSupplemented):
    """Routing passed a supplement on to the competent locality that holds the case
    (routing → tongban.approval.requests.<locality>)."""

    event_type: ClassVar[str] = "gov.tongban.application.supplement_routed.v1"

    routed_at: AwareDatetime


class ApplicationWithdrawn(ApplicationEvent):
    """一件事: the bundle this application is a child of failed (a required member was
    rejected), so the application is withdrawn: a case still in review is closed, a certificate
    already issued for it is revoked, each with `reason` (intake → tongban.intake.events)."""

    event_type: ClassVar[str] = "gov.tongban.application.withdrawn.v1"

    item_code: Code
    bundle_no: Code
    reason: Reason
    receiving_locality: LocalityCode
    competent_locality: LocalityCode
    withdrawn_at: AwareDatetime


class WithdrawalRouted(ApplicationWithdrawn):
    """A withdrawal passed on to the locality that holds the case now (routing →
    tongban.approval.requests.<locality>)."""

    event_type: ClassVar[str] = "gov.tongban.application.withdrawal_routed.v1"

    routed_at: AwareDatetime


class BundleCompleted(EventPayload):
    """一件事: every required member of a bundle application approved and nothing else still to
    decide (intake's process manager → tongban.intake.events). `members`: the application
    numbers of the approved children, whose certificates delivery hands over together, at the
    receiving window in one hand-over."""

    event_type: ClassVar[str] = "gov.tongban.bundle.completed.v1"

    bundle_no: Code
    bundle_id: Code
    receiving_locality: LocalityCode
    window_id: Code
    members: list[Code] = Field(min_length=1, max_length=MAX_MATERIALS)
    completed_at: AwareDatetime

    @property
    def subject(self) -> str:
        return f"bundle:{self.bundle_no}"


class ApplicationEvaluated(ApplicationEvent):
    """好差评: the applicant rated a finished application (intake → tongban.intake.events).
    The comment stays with intake (it may name people); the event says whether there is one."""

    event_type: ClassVar[str] = "gov.tongban.application.evaluated.v1"

    item_code: Code
    receiving_locality: LocalityCode
    window_id: Code
    competent_locality: LocalityCode
    score: int = Field(ge=1, le=5)
    has_comment: bool
    evaluated_at: AwareDatetime


class ApplicationRouted(ApplicationAccepted):
    """Routing handed the application to its competent locality
    (routing → tongban.approval.requests.<locality>). Carries the whole application so a local
    approval system needs nothing else. `competent_locality` is routing's own resolution."""

    event_type: ClassVar[str] = "gov.tongban.application.routed.v1"

    routed_at: AwareDatetime


class ApplicationHandedOver(ApplicationAccepted):
    """异地代收代办: the competent locality is in a partner province, so routing hands the whole
    application to this province's federation gateway (routing → tongban.federation.outgoing),
    which sends it signed to the partner's gateway (contracts/federation.md). The topic is the
    gateway's alone: the application travels in clear on it, as on a locality's request topic."""

    event_type: ClassVar[str] = "gov.tongban.routing.handed_over.v1"

    partner_province: str = Field(pattern=r"^\d{2}$")
    # The item as both provinces name it (国家基本目录编码, shared.federation.agreements).
    national_code: Code
    routed_at: AwareDatetime


class PartnerApplicationReceived(ApplicationAccepted):
    """代收: a partner province's window accepted an application this province decides; its
    gateway sent it signed, this province's gateway verified it and publishes it
    (federation → tongban.federation.incoming) for routing to place with the competent
    locality. `item_code` and `item_name` are the partner's; `national_code` names the item for
    both (shared.federation.agreements); `receiving_locality` is the partner's window's."""

    event_type: ClassVar[str] = "gov.tongban.federation.application_received.v1"

    from_province: str = Field(pattern=r"^\d{2}$")
    national_code: Code
    message_id: str = Field(min_length=1, max_length=64)
    received_at: AwareDatetime


class PartnerResultReceived(ApplicationEvent):
    """The way back: the competent partner province reports on an application this province's
    window handed over (federation → tongban.federation.results), as the status the table
    of shared.federation.statuses maps its message type to; for the applicant's timeline."""

    event_type: ClassVar[str] = "gov.tongban.federation.result_received.v1"

    from_province: str = Field(pattern=r"^\d{2}$")
    message_type: str = Field(pattern=r"^[a-z_.]{1,64}$")
    status: ApplicationStatus
    # The partner's locality that reports (its competent locality).
    locality: LocalityCode
    message_id: str = Field(min_length=1, max_length=64)
    received_at: AwareDatetime
    # When the partner says the step happened (its decision, its case opened: the message's
    # own time, shared.federation.statuses.RESULT_TIME); the timeline lists the step then.
    occurred_at: AwareDatetime | None = None


class PartnerSealKey(BaseModel):
    """A partner locality's seal key as the partner's trusted anchor names it (its `seals`,
    contracts/federation.md §11): what the receiving province checks the partner's seal with."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kid: Code
    locality: LocalityCode
    algorithm: Literal["SM2-SM3"] = "SM2-SM3"
    public_key: str = Field(pattern=r"^[A-Za-z0-9+/]{87}=$")  # base64 of 65 bytes
    revoked_at: AwareDatetime | None = None


class PartnerCertificateReceived(ApplicationEvent):
    """The way back: the competent partner province's sealed certificate for an application
    this province's window handed over (federation → tongban.federation.results), for this
    province's delivery to register, print at the receiving window or post. The document is
    the partner's as issued (its holder's name sealed for the partner's own services); the
    seal key is the one the partner's anchor names for the issuing locality. Delivery puts the
    holder's name back from this province's own application and checks the seal."""

    event_type: ClassVar[str] = "gov.tongban.federation.certificate_received.v1"

    from_province: str = Field(pattern=r"^\d{2}$")
    # The partner's issuing locality, item and certificate, as its CertificateIssued says.
    locality: LocalityCode
    certificate_no: Code
    item_code: Code
    issued_on: date
    valid_until: date | None = None
    document: PublishedDocument
    seal_key: PartnerSealKey
    message_id: str = Field(min_length=1, max_length=64)
    received_at: AwareDatetime


class FederationMessageLogged(EventPayload):
    """A signed message the federation gateway sent to a partner province (acknowledged) or
    received from one (verified), with its signature (federation → tongban.federation.events):
    routing's audit ledger chains it like every event, so either province can later prove what
    crossed the border. The body is not repeated: its SM3 digest is, over the RFC 8785 bytes."""

    event_type: ClassVar[str] = "gov.tongban.federation.message_logged.v1"

    direction: Literal["sent", "received"]
    message_id: str = Field(min_length=1, max_length=64)  # the gateways' id (a UUID)
    message_type: str = Field(pattern=r"^[a-z_.]{1,64}$")
    application_no: str | None = Field(default=None, max_length=32)
    from_province: str = Field(pattern=r"^\d{2}$")
    to_province: str = Field(pattern=r"^\d{2}$")
    signed_time: AwareDatetime
    signer: str = Field(min_length=1, max_length=64)
    signature: str = Field(min_length=1, max_length=128)
    body_sm3: str = Field(pattern=r"^[0-9a-f]{64}$")
    logged_at: AwareDatetime

    @property
    def subject(self) -> str:
        return self.application_no or f"federation:{self.message_id}"


class DeliveryExpected(ApplicationEvent):
    """异地代收代办: an application handed over to a partner province comes back as the
    partner's certificate; what this province's delivery needs to hand it over or post it
    (routing → tongban.routing.events, at the hand-over). The holder's and agent's names and ID
    numbers and the postal address travel sealed for delivery (`personal_data`: {holder_name,
    holder_id_number, agent_name, agent_id_number, postal_address}); the partner's certificate
    holds a digest keyed by the partner, so this province's application is the reference."""

    event_type: ClassVar[str] = "gov.tongban.routing.delivery_expected.v1"

    partner_province: str = Field(pattern=r"^\d{2}$")
    competent_locality: LocalityCode
    receiving_locality: LocalityCode
    window_id: Code
    item_code: Code
    item_name: Line
    holder_name_masked: Name
    agent_name_masked: Name | None = None
    delivery: Delivery  # the address masked (the line is in personal_data)
    personal_data: Sealed
    expected_at: AwareDatetime


class Routed(ApplicationEvent):
    """The application went to its competent locality (routing → tongban.routing.events).
    Slim: no personal data, for intake's timeline and anyone following progress."""

    event_type: ClassVar[str] = "gov.tongban.routing.routed.v1"

    competent_locality: LocalityCode
    department: Line
    receiving_locality: LocalityCode
    routed_at: AwareDatetime


class Unroutable(ApplicationEvent):
    """Routing could not hand the application to a competent locality, and says why
    (routing → tongban.routing.events). The application waits for operators; it is not lost."""

    event_type: ClassVar[str] = "gov.tongban.routing.unroutable.v1"

    reason: UnroutableReason
    message: Reason
    receiving_locality: LocalityCode
    decided_at: AwareDatetime


class Transferred(ApplicationEvent):
    """移交: the application now lies with another locality's approval (routing →
    tongban.routing.events). Slim, for intake's timeline."""

    event_type: ClassVar[str] = "gov.tongban.routing.transferred.v1"

    from_locality: LocalityCode
    competent_locality: LocalityCode
    department: Line
    reason: Reason
    routed_at: AwareDatetime


class JurisdictionRuleState(EventPayload):
    """The current jurisdiction rule of one item (routing → tongban.routing.rules, compacted:
    the latest record per key is the state)."""

    event_type: ClassVar[str] = "gov.tongban.routing.jurisdiction_rule.v1"

    item_code: Code
    jurisdiction: Jurisdiction
    competent_level: CompetentLevel
    department: Line

    @property
    def subject(self) -> str:
        return f"rule:{self.item_code}"


class TrustAgreementState(EventPayload):
    """The current state of one trust agreement (routing → tongban.routing.rules, compacted).
    A revoked agreement stays with its `revoked_at`, so a right can be judged as it stood at
    the moment a window used it."""

    event_type: ClassVar[str] = "gov.tongban.routing.trust_agreement.v1"

    agreement_id: str = Field(min_length=1, max_length=64)
    grantor_locality: LocalityCode
    grantee_locality: str = Field(pattern=r"^(\d{6}|\*)$")
    item_codes: list[Code] = Field(min_length=1, max_length=MAX_RIGHTS_LIST)
    rights: list[Right] = Field(min_length=1, max_length=len(Right))
    valid_until: date | None = None
    revoked_at: AwareDatetime | None = None

    @property
    def subject(self) -> str:
        return f"agreement:{self.agreement_id}"


# Items in one published version of the catalog (and jurisdiction rules in its event).
MAX_CATALOG_ITEMS = 500
# The name of a catalog version, as the province publishes it ("2026.1").
CatalogVersionName = Annotated[
    str, Field(min_length=1, max_length=32, pattern=r"^[0-9A-Za-z.\-]+$")
]


class CatalogRule(BaseModel):
    """The jurisdiction rule of one item of a published catalog version."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    item_code: Code
    jurisdiction: Jurisdiction
    competent_level: CompetentLevel
    department: Line


class CatalogPublished(EventPayload):
    """The province published a version of the catalog (通办事项清单), which is current from
    `published_at` on (intake → tongban.intake.events). Carries each item's jurisdiction rule:
    routing takes them into its rules, so windows can accept the new items. Applications keep
    the version they were accepted under (`catalog_version` of the accepted event)."""

    event_type: ClassVar[str] = "gov.tongban.catalog.published.v1"

    version: CatalogVersionName
    published_at: AwareDatetime
    rules: list[CatalogRule] = Field(min_length=1, max_length=MAX_CATALOG_ITEMS)

    @property
    def subject(self) -> str:
        return f"catalog:{self.version}"


class CaseOpened(ApplicationEvent):
    """The competent locality opened a review case (approval → tongban.approval.events)."""

    event_type: ClassVar[str] = "gov.tongban.case.opened.v1"

    locality: LocalityCode
    deadline: date
    opened_at: AwareDatetime


class CaseDeadlineWarning(ApplicationEvent):
    """Three quarters of the statutory working days are used and the case is still open
    (限时办结 supervision; approval → tongban.approval.events). Sent once per case."""

    event_type: ClassVar[str] = "gov.tongban.case.deadline_warning.v1"

    locality: LocalityCode
    deadline: date
    working_days: Count
    used_working_days: Count
    warned_at: AwareDatetime


class CaseOverdue(ApplicationEvent):
    """The statutory deadline passed with the case still open (approval →
    tongban.approval.events). Sent once per case."""

    event_type: ClassVar[str] = "gov.tongban.case.overdue.v1"

    locality: LocalityCode
    deadline: date
    overdue_at: AwareDatetime


class CaseSupplementRequested(ApplicationEvent):
    """补正: the approver asks for materials; the deadline clock stops until they come
    (approval → tongban.approval.events)."""

    event_type: ClassVar[str] = "gov.tongban.case.supplement_requested.v1"

    locality: LocalityCode
    materials: list[Code] = Field(min_length=1, max_length=MAX_MATERIALS)
    reason: Reason
    requested_at: AwareDatetime


class CaseResumed(ApplicationEvent):
    """The requested materials came; review goes on with the deadline moved by the paused
    working days (approval → tongban.approval.events)."""

    event_type: ClassVar[str] = "gov.tongban.case.resumed.v1"

    locality: LocalityCode
    deadline: date
    paused_working_days: Count
    resumed_at: AwareDatetime


class CaseWithdrawn(ApplicationEvent):
    """The case was closed undecided because its application was withdrawn (一件事: a required
    sibling rejected); `reason` says why. Its clock stops for good."""

    event_type: ClassVar[str] = "gov.tongban.case.withdrawn.v1"

    locality: LocalityCode
    reason: Reason
    withdrawn_at: AwareDatetime


class CaseDeferredReminder(ApplicationEvent):
    """容缺: deferred materials are still outstanding as their due day comes (approval →
    tongban.approval.events). Sent once per case."""

    event_type: ClassVar[str] = "gov.tongban.case.deferred_reminder.v1"

    locality: LocalityCode
    materials: list[Code] = Field(min_length=1, max_length=MAX_MATERIALS)
    due_on: date
    reminded_at: AwareDatetime


class CaseTransferred(ApplicationEvent):
    """移交: the competent locality's approver hands the case to another locality; routing
    re-routes it (approval → tongban.approval.events)."""

    event_type: ClassVar[str] = "gov.tongban.case.transferred.v1"

    from_locality: LocalityCode
    to_locality: LocalityCode
    reason: Reason
    transferred_by: Code
    transferred_at: AwareDatetime


class MaterialRead(ApplicationEvent):
    """An approver read a scan of the application (approval → tongban.approval.events): every
    read of an applicant's documents is on record."""

    event_type: ClassVar[str] = "gov.tongban.case.material_read.v1"

    locality: LocalityCode
    sha256: Sha256
    read_by: Code
    read_at: AwareDatetime


class ScanRequested(ApplicationEvent):
    """跨省通办, scans on request: an approver of the competent locality asked for a scan of an
    application a partner province's window accepted, which travelled with its SHA-256 only
    (approval → tongban.approval.events). The federation gateway asks that province for it
    (`scan.requested`, contracts/federation.md §8); once per application and scan."""

    event_type: ClassVar[str] = "gov.tongban.case.scan_requested.v1"

    locality: LocalityCode
    sha256: Sha256
    # The province whose window accepted the application: the one asked.
    partner_province: str = Field(pattern=r"^\d{2}$")
    requested_by: Code
    requested_at: AwareDatetime


class ScanReceived(ApplicationEvent):
    """The scan a partner province sent on request, its bytes' SHA-256 checked against the
    digest the application carried and stored in this province's blob store (federation →
    tongban.federation.events): from now on the approver's read returns it. No bytes, no
    personal data: the audit ledger chains it."""

    event_type: ClassVar[str] = "gov.tongban.federation.scan_received.v1"

    sha256: Sha256
    size: Count
    content_type: Literal["application/pdf", "image/jpeg", "image/png"]
    from_province: str = Field(pattern=r"^\d{2}$")
    message_id: str = Field(min_length=1, max_length=64)
    received_at: AwareDatetime


class CaseViewed(ApplicationEvent):
    """An approver opened the case, with the applicant's personal data (approval →
    tongban.approval.events): every view is on record in the audit ledger. Says who looked,
    never what they saw."""

    event_type: ClassVar[str] = "gov.tongban.case.viewed.v1"

    locality: LocalityCode
    viewed_by: Code
    viewer_locality: LocalityCode
    viewed_at: AwareDatetime


# --- 视频会商 (services/consultation → tongban.consultation.events) -----------------------------


class ConsultationParty(BaseModel):
    """One party of a video consultation: who (the token's subject), in what role, from which
    locality (and window, for a clerk). No personal data: staff identifiers only."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sub: Code
    role: Literal["window_clerk", "approver", "approval_system"]
    locality: LocalityCode
    window_id: Code | None = None


class ConsultationEvent(EventPayload):
    """An event about one video consultation (视频会商), keyed by its id so its events stay in
    order; `application_no` names the application it is about, once there is one (a
    consultation before acceptance names an item and the clerk's draft instead)."""

    consultation_id: Code
    application_no: Code | None = None
    item_code: Code
    # The competent locality whose reviewers may join, and the window that opened it.
    locality: LocalityCode
    window_id: Code

    @property
    def subject(self) -> str:
        return self.consultation_id


class ConsultationOpened(ConsultationEvent):
    """A window clerk asked the competent locality for a video consultation (视频会商收件)."""

    event_type: ClassVar[str] = "gov.tongban.consultation.opened.v1"

    opened_by: ConsultationParty
    opened_at: AwareDatetime
    topic: Reason


class ConsultationJoined(ConsultationEvent):
    """A party joined the call (its signalling socket was admitted): every join is on record."""

    event_type: ClassVar[str] = "gov.tongban.consultation.joined.v1"

    party: ConsultationParty
    at: AwareDatetime


class ConsultationLeft(ConsultationEvent):
    """A party left the call (hung up, closed the page, or was closed for a bad message)."""

    event_type: ClassVar[str] = "gov.tongban.consultation.left.v1"

    party: ConsultationParty
    at: AwareDatetime
    reason: Code


class ConsultationEnded(ConsultationEvent):
    """The call ended; `in_call_seconds` is how long both parties were in it."""

    event_type: ClassVar[str] = "gov.tongban.consultation.ended.v1"

    ended_by: Code
    ended_at: AwareDatetime
    in_call_seconds: Count


class MaterialVerifiedByVideo(ConsultationEvent):
    """原件核验 by video: the competent locality's reviewer saw the original of a material in
    the call, under a trust agreement granting the verify_original right (or as the competent
    locality itself)."""

    event_type: ClassVar[str] = "gov.tongban.consultation.material_verified.v1"

    material_code: Code
    note: Reason = ""
    verified_by: ConsultationParty
    verified_at: AwareDatetime


class ConsultationRecorded(ConsultationEvent):
    """全过程记录: the server's recording of the call is stored in the blob store (`blob`, its
    SHA-256 there; a WebM file of each party's video). `sm3` is the SM3 digest (hex) of the
    same bytes: the audit ledger, which chains this event, proves the recording later.
    `duration_seconds` is the media's length; `parties` who was in the call."""

    event_type: ClassVar[str] = "gov.tongban.consultation.recorded.v1"

    blob: Sha256
    sm3: str = Field(pattern=r"^[0-9a-f]{64}$")
    size_bytes: Count
    duration_seconds: Count
    media: Literal["video/webm"] = "video/webm"
    parties: tuple[ConsultationParty, ...] = Field(max_length=8)
    recorded_at: AwareDatetime
    retained_until: date


# Base64 of a raw 64-byte SM2 signature (r ‖ s).
Signature = Annotated[str, Field(pattern=r"^[A-Za-z0-9+/]{86}==$")]


class DocumentSeal(BaseModel):
    """An electronic seal (电子印章) on a document: SM2 with SM3 (default user ID
    1234567812345678), raw r ‖ s in base64, by key `signer` (`seal-<locality>#n` of the key ring's
    public-keys.json and GET /v1/seals) over the document's canonical JSON
    (shared.certificates.canonical_document)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    signer: Code
    algorithm: Literal["SM2-SM3"] = "SM2-SM3"
    signature: Signature


class PublishedDocument(BaseModel):
    """A sealed document as it travels province-wide: its content without the holder's name,
    the name masked, and the name sealed for delivery (which prints it). Put the name back
    (shared.certificates.opened) to check the seal."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    content: dict[str, str | None] = Field(max_length=32)
    holder_name_masked: Name
    holder_name: Sealed
    seal: DocumentSeal


class CertificateIssued(ApplicationEvent):
    """电子证照: the competent locality issued a certificate for an approved application and
    sealed it (approval → tongban.approval.events, before the approval itself). The
    certificate registry of the province: delivery prints and verifies it, intake lets later
    applications cite it instead of a material (免证办)."""

    event_type: ClassVar[str] = "gov.tongban.certificate.issued.v1"

    locality: LocalityCode
    certificate_no: Code
    item_code: Code
    holder_id_digest: str = Field(pattern=r"^[0-9a-f]{16,128}$")
    issued_on: date
    valid_until: date | None = None
    document: PublishedDocument


class CertificateRevoked(ApplicationEvent):
    """The issuing locality revoked a certificate (吊销/撤销): it no longer verifies and can no
    longer be cited (approval → tongban.approval.events)."""

    event_type: ClassVar[str] = "gov.tongban.certificate.revoked.v1"

    locality: LocalityCode
    certificate_no: Code
    reason: Reason
    revoked_by: Code
    revoked_at: AwareDatetime


class RejectionNoticeIssued(ApplicationEvent):
    """不予许可决定书: the competent locality's sealed notice of a rejection, with its reason
    (approval → tongban.approval.events, before the rejection itself)."""

    event_type: ClassVar[str] = "gov.tongban.rejection_notice.issued.v1"

    locality: LocalityCode
    notice_no: Code
    item_code: Code
    issued_on: date
    document: PublishedDocument


class ApplicationDecided(ApplicationEvent):
    """Common shape of approval decisions (not published itself).

    tongban.approval.events is read province-wide, so it carries no identity in clear: the
    holder's name masked, and a keyed digest of the ID number that delivery checks at hand-over.
    """

    locality: LocalityCode
    item_code: Code
    decided_at: AwareDatetime
    reason: Reason | None = None
    receiving_locality: LocalityCode
    window_id: Code
    holder_name_masked: Name
    holder_id_digest: str = Field(pattern=r"^[0-9a-f]{16,128}$")
    delivery: Delivery
    # 委托代办: the recorded agent may collect the result too (checked by the same digest).
    agent_name_masked: Name | None = None
    agent_id_digest: str | None = Field(default=None, pattern=r"^[0-9a-f]{16,128}$")
    # Postal delivery: `delivery.address` is masked here, and the address in clear is sealed
    # for delivery (the PostalAddress as JSON; context: the application number).
    postal_address: Sealed | None = None
    # 一件事: the bundle application it is a child of (delivery hands the bundle's certificates
    # over together once the bundle is complete). Absent for an application of its own.
    bundle_no: Code | None = None


class ApplicationApproved(ApplicationDecided):
    """The competent locality approved; a certificate was issued (approval →
    tongban.approval.events). Delivery queues it at the receiving window or posts it."""

    event_type: ClassVar[str] = "gov.tongban.application.approved.v1"

    certificate_no: Code
    item_name: Line


class ApplicationRejected(ApplicationDecided):
    """The competent locality rejected, with its reason (approval → tongban.approval.events)."""

    event_type: ClassVar[str] = "gov.tongban.application.rejected.v1"


class CertificateReadyForPickup(ApplicationEvent):
    """The certificate waits in the print queue of the receiving window (delivery)."""

    event_type: ClassVar[str] = "gov.tongban.certificate.ready_for_pickup.v1"

    certificate_no: Code
    window_id: Code
    locality: LocalityCode
    queued_at: AwareDatetime
    # 一件事: ready with every other certificate of this bundle application (one hand-over).
    bundle_no: Code | None = None


class CertificateDelivered(ApplicationEvent):
    """The certificate was handed over (or the carrier reported delivery)."""

    event_type: ClassVar[str] = "gov.tongban.certificate.delivered.v1"

    certificate_no: Code
    locality: LocalityCode
    window_id: Code | None = None
    delivered_at: AwareDatetime
    channel: Literal["window", "postal"]
    # At a window: who collected it, the applicant or the recorded agent (委托代办).
    collected_by: Literal["applicant", "agent"] | None = None
    # By post: the carrier's tracking number.
    tracking_no: Code | None = None
    # 一件事: handed over with every other certificate of this bundle application (or
    # delivered in its one parcel).
    bundle_no: Code | None = None


class CertificateDispatched(ApplicationEvent):
    """邮政寄递: the carrier took the dispatch and gave it a tracking number (delivery)."""

    event_type: ClassVar[str] = "gov.tongban.certificate.dispatched.v1"

    certificate_no: Code
    locality: LocalityCode  # the receiving locality
    carrier: Code
    tracking_no: Code
    dispatched_at: AwareDatetime
    # 一件事: posted in this bundle application's one parcel (its tracking number is the
    # parcel's, the same for every certificate of the bundle).
    bundle_no: Code | None = None


class CertificateInTransit(ApplicationEvent):
    """The carrier reported the parcel picked up or on its way (delivery, from the carrier's
    webhook)."""

    event_type: ClassVar[str] = "gov.tongban.certificate.in_transit.v1"

    certificate_no: Code
    locality: LocalityCode
    tracking_no: Code
    carrier_event: Literal["picked_up", "in_transit"]
    at: AwareDatetime
    # 一件事: in this bundle application's one parcel.
    bundle_no: Code | None = None


class LedgerCheckpoint(EventPayload):
    """Routing's signed statement of the audit ledger's head (routing →
    tongban.audit.checkpoints, every few seconds while the ledger grows): entry `seq` of the
    chain has hash `hash`. Keep them: routing cannot later change, remove or reorder an entry up
    to `seq` without breaking a statement you hold. `signature` is SM2 with SM3 (default user ID
    1234567812345678), raw r ‖ s in base64, by key `signer` of the key ring's
    public-keys.json, over the canonical JSON of {"at", "hash", "seq", "statement":
    "tongban.audit.head.v1"} (contracts/audit-ledger.md)."""

    event_type: ClassVar[str] = "gov.tongban.audit.checkpoint.v1"

    seq: Count = Field(ge=1)
    hash: str = Field(pattern=r"^[0-9a-f]{64}$")
    at: AwareDatetime
    signer: str = Field(min_length=1, max_length=64)
    algorithm: Literal["SM2-SM3"] = "SM2-SM3"
    signature: Signature

    @property
    def subject(self) -> str:
        return "ledger:tongban.routing"


EVENT_TYPES: dict[str, type[EventPayload]] = {
    model.event_type: model
    for model in (
        ApplicationAccepted,
        ApplicationSupplemented,
        ApplicationEvaluated,
        ApplicationRouted,
        SupplementRouted,
        ApplicationHandedOver,
        PartnerApplicationReceived,
        PartnerResultReceived,
        PartnerCertificateReceived,
        FederationMessageLogged,
        DeliveryExpected,
        ApplicationWithdrawn,
        WithdrawalRouted,
        BundleCompleted,
        Routed,
        Unroutable,
        Transferred,
        JurisdictionRuleState,
        TrustAgreementState,
        CatalogPublished,
        CaseOpened,
        CaseDeadlineWarning,
        CaseOverdue,
        CaseSupplementRequested,
        CaseResumed,
        CaseWithdrawn,
        CaseDeferredReminder,
        CaseTransferred,
        MaterialRead,
        ScanRequested,
        ScanReceived,
        ApplicationApproved,
        ApplicationRejected,
        CertificateReadyForPickup,
        CertificateDelivered,
        CertificateDispatched,
        CertificateInTransit,
        CertificateIssued,
        CertificateRevoked,
        RejectionNoticeIssued,
        CaseViewed,
        LedgerCheckpoint,
        ConsultationOpened,
        ConsultationJoined,
        ConsultationLeft,
        ConsultationEnded,
        MaterialVerifiedByVideo,
        ConsultationRecorded,
    )
}
