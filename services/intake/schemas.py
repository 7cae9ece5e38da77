"""Intake's request and response bodies: the public contract of API.md."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.bounds import MAX_MATERIALS, Code, Sha256
from shared.messaging.events import Agent, Applicant, PostalAddress
from shared.reference.localities import LocalityCode
from shared.vocabulary import ApplicationStatus, DeliveryMethod


class ApplicantIn(Applicant):
    model_config = ConfigDict(extra="forbid")

    phone: str = Field(pattern=r"^\+?[0-9\- ]{5,20}$")


class AgentIn(Agent):
    """帮办代办 / 委托代办: who hands in for the applicant; `authorization_sha256` is the uploaded
    scan of the letter of authorization."""

    model_config = ConfigDict(extra="forbid")

    phone: str = Field(pattern=r"^\+?[0-9\- ]{5,20}$")


class MaterialIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    material_code: Code
    sha256: Sha256
    original_verified: bool = False


class PostalAddressIn(PostalAddress):
    model_config = ConfigDict(extra="forbid")

    phone: str = Field(pattern=r"^\+?[0-9\- ]{5,20}$")


class DeliveryIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    method: DeliveryMethod
    address: PostalAddressIn | None = None


def _repeated(codes: list[str]) -> list[str]:
    return sorted(code for code, times in Counter(codes).items() if times > 1)


class ApplicationIn(BaseModel):
    """`POST /v1/applications` (API.md). Every list and string is bounded (shared.bounds)."""

    model_config = ConfigDict(extra="forbid")

    item_code: Code
    applicant: ApplicantIn
    property_locality: LocalityCode | None = None
    materials: list[MaterialIn] = Field(default=[], max_length=MAX_MATERIALS)
    commitments: list[Code] = Field(default=[], max_length=MAX_MATERIALS)
    delivery: DeliveryIn
    agent: AgentIn | None = None

    @model_validator(mode="after")
    def _each_material_once(self) -> ApplicationIn:
        # A code twice is a mistake at the window, never a meaning: say which, at once.
        handed_in = [m.material_code for m in self.materials]
        repeated = {
            "materials": _repeated(handed_in),
            "commitments": _repeated(self.commitments),
            "commitments and materials": sorted(set(handed_in) & set(self.commitments)),
        }
        problems = [f"{where}: {', '.join(codes)}" for where, codes in repeated.items() if codes]
        if problems:
            raise ValueError(
                "each material_code may appear once; repeated in " + "; ".join(problems)
            )
        return self


class SupplementIn(BaseModel):
    """`POST /v1/applications/{no}/supplements`: requested (补正) or deferred (容缺) materials."""

    model_config = ConfigDict(extra="forbid")

    materials: list[MaterialIn] = Field(min_length=1, max_length=MAX_MATERIALS)

    @model_validator(mode="after")
    def _each_material_once(self) -> SupplementIn:
        repeated = _repeated([m.material_code for m in self.materials])
        if repeated:
            raise ValueError("each material_code may appear once; repeated: " + ", ".join(repeated))
        return self


class SupplementOut(BaseModel):
    application_no: str
    status: ApplicationStatus
    materials: list[str]
    window_id: str
    handed_in_at: datetime
    # What is still outstanding after this supplement.
    requested_materials: list[str]
    deferred: list[str]


class ScanOut(BaseModel):
    sha256: str
    size: int
    content_type: str


class ApplicationAcceptedOut(BaseModel):
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


class TimelineEntryOut(BaseModel):
    at: datetime
    status: ApplicationStatus
    locality: str
    note: str


class ApplicationOut(BaseModel):
    application_no: str
    status: ApplicationStatus
    item_code: str
    competent_locality: str
    receiving_locality: str
    window_id: str
    promised_date: date
    deferred: list[str]
    deferred_due_on: date | None
    requested_materials: list[str]
    agent_name_masked: str | None
    catalog_version: str | None
    timeline: list[TimelineEntryOut]
