"""Approval's HTTP request and response models (API.md)."""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from shared.bounds import MAX_MATERIALS, Code, Reason
from shared.clock import ChinaTime
from shared.reference.localities import LocalityCode
from shared.vocabulary import CaseStatus, Decision


class CaseOut(BaseModel):
    application_no: str
    locality: str
    department: str
    item_code: str
    item_name: str
    status: CaseStatus
    accepted_on: date
    # What the applicant was promised (承诺时限) and what the law allows (法定时限).
    promised_date: date
    deadline: date
    warning: bool
    overdue: bool
    warned_at: ChinaTime | None
    overdue_at: ChinaTime | None
    claimed_by: str | None
    # 补正: what was asked for while the clock is paused, and the working days paused so far.
    requested_materials: list[str] | None
    paused_working_days: int
    # 容缺: deferred materials still outstanding and their due day.
    deferred: list[str]
    deferred_due_on: date | None
    transferred_to: str | None
    decision: Decision | None
    reason: str | None
    override_reason: str | None
    decided_at: ChinaTime | None
    certificate_no: str | None


class VideoRecordingOut(BaseModel):
    """The recording of the call (全过程记录): its name in the blob store (SHA-256) and its SM3
    digest, which routing's audit ledger holds; the consultation service plays it back."""

    blob_sha256: str
    sm3: str
    size_bytes: int
    duration_seconds: int
    recorded_at: ChinaTime
    retained_until: date


class VideoVerificationOut(BaseModel):
    """原件核验 by video: the original of a material seen by the competent locality's reviewer
    in a video consultation (services/consultation, contracts/video.md)."""

    material_code: str
    material_name: str | None
    note: str
    verified_by: str
    verifier_role: str
    verifier_locality: str
    verified_at: ChinaTime
    consultation_id: str
    window_id: str
    # None until the call's recording is stored (it is, once the call ends).
    recording: VideoRecordingOut | None
    # The same in words, in the caller's language (Accept-Language; Chinese by default).
    summary: str


class CaseDetailOut(CaseOut):
    application: dict[str, Any]
    supplements: list[dict[str, Any]]
    video_verifications: list[VideoVerificationOut] = []


class CasePage(BaseModel):
    cases: list[CaseOut]
    next_cursor: str | None


class QueueEntryOut(BaseModel):
    """One case of a locality's queue as operators see it: where it stands against its deadline,
    nothing of the applicant."""

    application_no: str
    locality: str
    item_code: str
    status: CaseStatus
    accepted_on: date
    deadline: date
    warning: bool
    overdue: bool
    claimed_by: str | None


class QueuePage(BaseModel):
    cases: list[QueueEntryOut]
    next_cursor: str | None


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decision: Decision
    reason: Reason = ""
    # request_supplement (补正): the material codes the applicant must hand in.
    materials: list[Code] = Field(default=[], max_length=MAX_MATERIALS)
    # approve with deferred (容缺) materials still outstanding: why, on record.
    override_reason: Reason = ""


class TransferIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    to_locality: LocalityCode
    reason: Reason


class SealOut(BaseModel):
    kid: str
    locality: str
    algorithm: str
    # base64 of the uncompressed SM2 public key, 04 ‖ x ‖ y (65 bytes).
    public_key: str
    valid_from: ChinaTime
    # When the key was retired (a rotation); what it sealed before still verifies.
    valid_until: ChinaTime | None
    current: bool


class SealsOut(BaseModel):
    seals: list[SealOut]


class DocumentSealOut(BaseModel):
    signer: str
    algorithm: str
    signature: str


class CertificateOut(BaseModel):
    number: str
    kind: str  # certificate | rejection_notice
    application_no: str
    locality: str
    item_code: str
    # What the seal covers, the holder's name in clear (shared.certificates.canonical_document).
    content: dict[str, Any]
    seal: DocumentSealOut
    issued_on: date
    valid_until: date | None
    revoked: bool
    revoked_at: ChinaTime | None
    revoked_reason: str | None
    revoked_by: str | None


class RevokeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Reason


class ScanRequestedOut(BaseModel):
    """202 for a scan of a partner province's application that is not here yet: asked of the
    partner (once), checked against the application's digest when it comes."""

    status: str  # scan_requested
    message: str
    application_no: str
    sha256: str
    partner_province: str
    requested_at: ChinaTime
