"""Every HTTP request and response model of the consultation service."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.bounds import Code, Reason
from shared.clock import ChinaTime
from shared.reference.localities import LocalityCode


class OpenIn(BaseModel):
    """About an application (`application_no`), or before acceptance an item and the window's
    own reference of its draft (`draft_ref`); `locality` is the competent locality."""

    model_config = ConfigDict(extra="forbid")

    item_code: Code
    locality: LocalityCode
    topic: Annotated[Reason, Field(min_length=1)]
    application_no: Code | None = None
    draft_ref: Code | None = None

    @model_validator(mode="after")
    def _about_something(self) -> OpenIn:
        if not self.application_no and not self.draft_ref:
            raise ValueError("name an application_no, or a draft_ref before acceptance")
        return self


class VerificationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    material_code: Code
    note: Reason = ""


class VerificationOut(BaseModel):
    material_code: str
    note: str
    verified_by: str
    verified_at: ChinaTime


class RecordingOut(BaseModel):
    sm3: str
    blob_sha256: str
    size_bytes: int
    duration_seconds: int
    recorded_at: ChinaTime
    retained_until: date
    removed: bool


class ConsultationOut(BaseModel):
    consultation_id: str
    application_no: str | None
    item_code: str
    draft_ref: str | None
    topic: str
    locality: str
    window_id: str
    opened_by: str
    opened_at: ChinaTime
    state: str
    call_started_at: ChinaTime | None
    ended_at: ChinaTime | None
    signalling: str
    verifications: list[VerificationOut] = []
    recording: RecordingOut | None = None


class ConsultationList(BaseModel):
    consultations: list[ConsultationOut]
