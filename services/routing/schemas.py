"""Routing's HTTP models (API.md): jurisdiction resolution, trust agreements and the audit
ledger's entries and verdicts."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from shared.bounds import MAX_RIGHTS_LIST, Code
from shared.clock import ChinaTime
from shared.reference.localities import LocalityCode
from shared.vocabulary import Right


class ResolveRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    item_code: Code
    applicant_locality: LocalityCode
    property_locality: LocalityCode | None = None
    receiving_locality: LocalityCode | None = Field(
        None, description="If given, the answer also lists the rights its windows hold."
    )


class ResolveResponse(BaseModel):
    competent_locality: str
    department: str
    receiving_rights: list[Right] | None = None


class AgreementIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    grantor_locality: LocalityCode
    grantee_locality: Annotated[str, Field(pattern=r"^(\d{6}|\*)$")]
    item_codes: list[Code] = Field(min_length=1, max_length=MAX_RIGHTS_LIST)
    rights: list[Right] = Field(min_length=1, max_length=len(Right))
    valid_until: date | None = None


class AgreementOut(BaseModel):
    id: str
    grantor_locality: str
    grantee_locality: str
    item_codes: list[str]
    rights: list[Right]
    valid_until: date | None
    created_at: ChinaTime
    created_by: str
    revoked_at: ChinaTime | None = None


class AgreementPage(BaseModel):
    agreements: list[AgreementOut]
    next_cursor: str | None


class LedgerEntryOut(BaseModel):
    """One entry of the audit ledger, with every field its hash covers (contracts/
    audit-ledger.md): `hash` = SM3(prev_hash ‖ canonical entry). Entries of format 1 carry
    `signature`, routing's SM2 signature (base64, raw r ‖ s) of the head statement {at, hash,
    seq} by key `signer`; newer ones (format 2) have null there, the published checkpoints
    sign them."""

    seq: int
    event_type: str
    at: str = Field(description="UTC, YYYY-MM-DDTHH:MM:SS.ffffffZ, exactly as hashed")
    prev_hash: str
    hash: str
    signature: str | None = Field(description="Format 1 entries only; null since format 2")
    signer: str | None = Field(description="Format 1 entries only; null since format 2")
    event_id: str
    event_time: str
    source: str
    subject: str
    topic: str
    partition: int
    offset: int
    record_sm3: str


class ApplicationLedgerOut(BaseModel):
    application_no: str
    entries: list[LedgerEntryOut]


class CheckpointOut(BaseModel):
    seq: int
    hash: str
    at: str
    signer: str
    signature_ok: bool
    head_matches: bool


class VerifyOut(BaseModel):
    ok: bool
    checked: int
    first_bad_seq: int | None
    from_seq: int = Field(description="The entries checked are those after this seq (0: all)")
    head_seq: int = Field(description="The last entry that chains (from_seq if none)")
    head_hash: str
    problem: str | None
    checkpoint: CheckpointOut | None = Field(
        description="The latest checkpoint published on tongban.audit.checkpoints"
    )
    checkpoints_published: int = Field(
        0, description="How many published checkpoints the chain was held to"
    )
    verified_at: ChinaTime | None = Field(None, description="When this verification ran")
