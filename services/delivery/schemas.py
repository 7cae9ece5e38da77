"""Delivery's HTTP request and response models (API.md), and the carrier's tracking report
(the body of its webhook)."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict

from shared.bounds import Code, IdNumber
from shared.clock import ChinaTime
from shared.vocabulary import PostalStatus, PrintJobStatus


class PrintJobOut(BaseModel):
    certificate_no: str
    application_no: str
    window_id: str
    item_code: str
    item_name: str
    issuer_locality: str
    holder_name_masked: str
    # 委托代办: the agent who may collect instead of the applicant, masked.
    agent_name_masked: str | None
    status: PrintJobStatus
    queued_at: ChinaTime
    delivered_at: ChinaTime | None
    collected_by: str | None


class PrintQueuePage(BaseModel):
    items: list[PrintJobOut]
    next_cursor: str | None


class BundleJobOut(BaseModel):
    """一件事: one print job, a bundle's certificates handed over together."""

    bundle_no: str
    bundle_id: str
    window_id: str
    status: Literal["waiting", "ready", "delivered"]
    ready_at: ChinaTime | None
    delivered_at: ChinaTime | None
    collected_by: str | None
    certificates: list[PrintJobOut]


class BundleQueueOut(BaseModel):
    items: list[BundleJobOut]


class HandoverIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    recipient_id_number: IdNumber


class HandoverOut(BaseModel):
    application_no: str
    certificate_no: str
    status: PrintJobStatus
    delivered_at: ChinaTime
    # The applicant, or the agent recorded at acceptance (委托代办).
    collected_by: str | None


class VerificationOut(BaseModel):
    valid: bool
    number: str
    # Why not valid: signature_invalid, unknown_seal, not_issuers_seal, revoked,
    # revocation_invalid (its signed revocation was changed), expired.
    reason: str | None
    kind: str | None
    issuer_locality: str | None
    item_code: str | None
    holder_name_masked: str | None
    issued_at: date | None
    valid_until: date | None
    revoked_at: ChinaTime | None
    # How many times this certificate was verified, this one included.
    verifications: int | None


class CarrierEventOut(BaseModel):
    tracking_no: str
    event: str
    status: PostalStatus  # the dispatch's status after this report
    # True: this report was taken before (a replay); nothing changed.
    duplicate: bool


CarrierEvent = Literal["picked_up", "in_transit", "delivered"]


class CarrierReport(BaseModel):
    """The webhook's body (API.md: POST /v1/carrier/events)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tracking_no: Code
    event: CarrierEvent
    at: AwareDatetime
