"""Intake's request and response bodies: the public contract of API.md."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.messaging.events import Applicant, PostalAddress
from shared.reference.localities import LocalityCode


class ApplicantIn(Applicant):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    id_number: str = Field(min_length=1, max_length=32)
    phone: str = Field(pattern=r"^\+?[0-9\- ]{5,20}$")
    locality: LocalityCode


class MaterialIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    material_code: str
    sha256: str = Field(pattern=r"^[0-9a-fA-F]{64}$")
    original_verified: bool = False


class DeliveryIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    method: Literal["window_pickup", "postal"]
    address: PostalAddress | None = None


class ApplicationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    item_code: str = Field(min_length=1, max_length=32)
    applicant: ApplicantIn
    property_locality: LocalityCode | None = None
    materials: list[MaterialIn] = []
    commitments: list[str] = []
    delivery: DeliveryIn

    @model_validator(mode="after")
    def _no_duplicate_materials(self) -> ApplicationIn:
        codes = [m.material_code for m in self.materials]
        if len(codes) != len(set(codes)):
            raise ValueError("each material_code may appear once")
        return self


class ApplicationAcceptedOut(BaseModel):
    application_no: str
    status: str
    item_code: str
    receiving_locality: str
    window_id: str
    competent_locality: str
    department: str
    promised_date: date
    accepted_at: datetime
    deferred: list[str]


class TimelineEntryOut(BaseModel):
    at: datetime
    status: str
    locality: str
    note: str


class ApplicationOut(BaseModel):
    application_no: str
    status: str
    item_code: str
    competent_locality: str
    receiving_locality: str
    window_id: str
    promised_date: date
    deferred: list[str]
    timeline: list[TimelineEntryOut]
