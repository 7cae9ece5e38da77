"""Request and response bodies of bundle applications (一件事一次办, API.md's style).

The applicant, the delivery and the agent are given once for the whole bundle; the combined
form's shared fields once; each member its materials, where a scan is named by its sha256, so a
scan uploaded once serves every member that references it."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.intake.schemas import (
    AgentIn,
    ApplicantIn,
    ApplicationIn,
    ApplicationMaterialIn,
    DeliveryIn,
)
from shared.bounds import MAX_MATERIALS, Code, Line
from shared.clock import ChinaTime
from shared.i18n import _
from shared.reference.bundles import MAX_BUNDLE_MEMBERS, MAX_SHARED_FIELDS
from shared.reference.localities import LocalityCode


class BundleMemberIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    item_code: Code
    materials: list[ApplicationMaterialIn] = Field(default=[], max_length=MAX_MATERIALS)
    commitments: list[Code] = Field(default=[], max_length=MAX_MATERIALS)


class BundleApplicationIn(BaseModel):
    """`POST /v1/bundle-applications`: every member the applicant asks for (the required ones
    and the optional ones chosen), under one Idempotency-Key."""

    model_config = ConfigDict(extra="forbid")

    bundle_id: Code
    applicant: ApplicantIn
    property_locality: LocalityCode | None = None
    shared_fields: dict[Code, Line] = Field(default={}, max_length=MAX_SHARED_FIELDS)
    members: list[BundleMemberIn] = Field(min_length=1, max_length=MAX_BUNDLE_MEMBERS)
    delivery: DeliveryIn
    agent: AgentIn | None = None

    @model_validator(mode="after")
    def _each_member_once(self) -> BundleApplicationIn:
        codes = [member.item_code for member in self.members]
        repeated = sorted({code for code in codes if codes.count(code) > 1})
        if repeated:
            raise ValueError(
                _("each member may appear once; repeated: {repeated}", repeated=", ".join(repeated))
            )
        return self

    def member_application(self, member: BundleMemberIn) -> ApplicationIn:
        """The member as an ordinary application: what its item's standard is checked on."""
        return ApplicationIn(
            item_code=member.item_code,
            applicant=self.applicant,
            property_locality=self.property_locality,
            materials=member.materials,
            commitments=member.commitments,
            delivery=self.delivery,
            agent=self.agent,
        )


class BundleChildOut(BaseModel):
    application_no: str
    item_code: str
    required: bool
    status: Literal["accepted", "held", "released"]
    outcome: Literal["approved", "rejected", "withdrawn"] | None = Field(
        default=None,
        description="its decision, once announced; withdrawn: its case closed undecided "
        "because the bundle failed",
    )
    withdrawn: bool = Field(
        default=False, description="the bundle failed and this member was withdrawn"
    )
    revoked: list[str] = Field(
        default=[], description="its certificates the registry revoked (a failed bundle's)"
    )
    waits_for: list[str] = Field(description="the members whose certificate it waits for")
    competent_locality: str
    department: str
    promised_date: date = Field(description="for a held child, estimated from its prerequisites")


class RejectedMemberOut(BaseModel):
    application_no: str
    item_code: str
    item_name: str
    department: str
    competent_locality: str
    outcome: Literal["rejected", "withdrawn", "revoked", "not_started"] = Field(
        description="rejected: its department's reason; withdrawn: its review closed; "
        "revoked: its certificates revoked; not_started: it was still held"
    )
    reason: str


class BundleRejectionOut(BaseModel):
    """一件事 failed: one rejection listing each member with its department's reason."""

    issued_at: datetime
    reason: str = Field(description="why the bundle ended")
    members: list[RejectedMemberOut]


class BundleAcceptedOut(BaseModel):
    """One receipt: the bundle's number with its children's numbers."""

    bundle_no: str
    bundle_id: str
    name: str
    lead_department: str
    catalog_version: str
    receiving_locality: str
    window_id: str
    promised_date: date = Field(description="the latest child's")
    status: Literal["open", "completed", "failed"] = Field(
        default="open",
        description="failed: a required member was rejected; completed: every required member "
        "approved and nothing else still to decide",
    )
    stuck: list[str] = Field(
        default=[],
        description="members to look at: held but never to be released, or undecided past "
        "their promised date",
    )
    children: list[BundleChildOut]
    rejection: BundleRejectionOut | None = Field(
        default=None, description="failed: the applicant's one rejection for the bundle"
    )


class BundlesOut(BaseModel):
    bundles: list[BundleAcceptedOut] = Field(description="newest first")


class MemberProgressOut(BaseModel):
    application_no: str
    item_code: str
    item_name: str
    department: str
    competent_locality: str
    status: str = Field(description="the child's application status, or held")
    waits_for: list[str]
    promised_date: date
    clock: Literal["running", "paused", "stopped", "not_started"] = Field(
        description="its own statutory clock: paused while a supplement (补正) is asked"
    )
    paused_since: ChinaTime | None
    steps: int


class BundleStepOut(BaseModel):
    at: ChinaTime
    item_code: str
    department: str
    status: str
    locality: str
    note: str


class SupplementAskedOut(BaseModel):
    item_code: str
    item_name: str
    department: str
    materials: list[str]
    asked_at: ChinaTime | None


class BundleTimelineOut(BaseModel):
    """一件事: each department's progress and clock, and every step of every child."""

    bundle_no: str
    name: str
    status: Literal["open", "completed", "failed"]
    promised_date: date
    members: list[MemberProgressOut]
    supplement_request: list[SupplementAskedOut] = Field(
        description="one combined request (补正) for the bundle: what each asking department "
        "wants; empty when none is outstanding"
    )
    steps: list[BundleStepOut] = Field(description="every child's timeline, oldest first")


class BundleEvaluationOut(BaseModel):
    """一件事: the one rating, and the members that took it (a withdrawn one does not)."""

    bundle_no: str
    score: int
    comment: str
    evaluated_at: ChinaTime
    rated: list[str]
