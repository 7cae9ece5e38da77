"""Routing's HTTP API: jurisdiction resolution, trust agreements and the audit ledger
(API.md). Thin: parse, call the use case, shape the answer."""

from __future__ import annotations

import base64
from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from services.routing import ledger, service
from services.routing.checkpoints import CheckpointFollower
from services.routing.db import AgreementRow, LedgerRow
from shared.authz import Caller
from shared.bounds import MAX_RIGHTS_LIST, Code
from shared.errors import NotFound
from shared.pagination import MAX_PAGE, Cursor, Limit
from shared.reference.localities import LocalityCode
from shared.vocabulary import Right
from shared.webapp import DbSession, Runtime

router = APIRouter(prefix="/v1")


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


@router.post("/jurisdiction/resolve", tags=["jurisdiction"])
async def resolve(body: ResolveRequest, db: DbSession, principal: Caller) -> ResolveResponse:
    resolution = await service.resolve(
        db,
        service.Resolve(
            item_code=body.item_code,
            applicant_locality=body.applicant_locality,
            property_locality=body.property_locality,
            receiving_locality=body.receiving_locality,
            asker=principal,
        ),
    )
    return ResolveResponse(
        competent_locality=resolution.competent_locality,
        department=resolution.department,
        receiving_rights=(
            [right for right in Right if right in resolution.receiving_rights]
            if body.receiving_locality
            else None
        ),
    )


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
    created_at: datetime
    created_by: str
    revoked_at: datetime | None = None


def _out(row: AgreementRow) -> AgreementOut:
    return AgreementOut.model_validate(row, from_attributes=True)


class AgreementPage(BaseModel):
    agreements: list[AgreementOut]
    next_cursor: str | None


@router.get("/agreements", tags=["agreements"])
async def list_agreements(
    db: DbSession, _: Caller, limit: Limit = MAX_PAGE, cursor: Cursor = None
) -> AgreementPage:
    rows, next_cursor = await service.list_agreements(db, limit=limit, cursor=cursor)
    return AgreementPage(agreements=[_out(row) for row in rows], next_cursor=next_cursor)


@router.post("/agreements", status_code=201, tags=["agreements"])
async def create_agreement(
    body: AgreementIn, db: DbSession, runtime: Runtime, admin: Caller
) -> AgreementOut:
    command = service.GrantAgreement(**body.model_dump(), admin=admin)
    return _out(await service.grant_agreement(db, runtime.outbox, command))


@router.delete("/agreements/{agreement_id}", tags=["agreements"])
async def revoke_agreement(
    agreement_id: str, db: DbSession, runtime: Runtime, admin: Caller
) -> AgreementOut:
    return _out(await service.revoke_agreement(db, runtime.outbox, agreement_id, admin))


class LedgerEntryOut(BaseModel):
    """One entry of the audit ledger, with every field its hash covers (contracts/
    audit-ledger.md): `hash` = SM3(prev_hash ‖ canonical entry), `signature` routing's SM2
    signature (base64, raw r ‖ s) of the head statement {at, hash, seq} by key `signer`."""

    seq: int
    event_type: str
    at: str = Field(description="UTC, YYYY-MM-DDTHH:MM:SS.ffffffZ, exactly as hashed")
    prev_hash: str
    hash: str
    signature: str
    signer: str
    event_id: str
    event_time: str
    source: str
    subject: str
    topic: str
    partition: int
    offset: int
    record_sm3: str


def _entry_out(row: LedgerRow) -> LedgerEntryOut:
    return LedgerEntryOut(
        seq=row.seq,
        event_type=row.event_type,
        at=ledger.timestamp(row.at),
        prev_hash=row.prev_hash,
        hash=row.hash,
        signature=base64.b64encode(row.signature).decode("ascii"),
        signer=row.signer,
        event_id=row.event_id,
        event_time=ledger.timestamp(row.event_time),
        source=row.source,
        subject=row.subject,
        topic=row.topic,
        partition=row.kafka_partition,
        offset=row.kafka_offset,
        record_sm3=row.record_sm3,
    )


class ApplicationLedgerOut(BaseModel):
    application_no: str
    entries: list[LedgerEntryOut]


@router.get("/audit/applications/{application_no}", tags=["audit"])
async def application_ledger(application_no: str, db: DbSession, _: Caller) -> ApplicationLedgerOut:
    """Every ledger entry of one application's events (operators and admins), oldest first;
    empty until the ledger has read its first event."""
    rows = await service.ledger_of_application(db, application_no)
    return ApplicationLedgerOut(
        application_no=application_no, entries=[_entry_out(row) for row in rows]
    )


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
    verified_at: str | None = Field(None, description="When this verification ran (UTC)")


def _published(request: Request) -> ledger.PublishedCheckpoints:
    """Every checkpoint published so far, as routing's follower of the topic read them."""
    follower: CheckpointFollower = request.app.state.checkpoints
    return follower.published


Published = Annotated[ledger.PublishedCheckpoints, Depends(_published)]


@router.get("/audit/verify", tags=["audit"])
async def verify_ledger(
    db: DbSession,
    runtime: Runtime,
    published: Published,
    _: Caller,
    from_seq: Annotated[
        int | None,
        Query(
            alias="from",
            ge=1,
            description="Start at the published checkpoint of this seq (nothing is stored)",
        ),
    ] = None,
    full: Annotated[
        bool, Query(description="Recompute the whole chain instead of going on from the last")
    ] = False,
) -> VerifyOut:
    """Verify the ledger (operators and admins): the chain is held to every checkpoint routing
    published, and the entries appended since the last verification are recomputed and their
    signatures checked (all of them with `full`); `ok`, how many entries were `checked`, and the
    `first_bad_seq` if any. The verdict is stored (`GET /v1/audit/verification`)."""
    ring = runtime.settings.key_ring()
    if from_seq is not None:
        result = await service.verify_ledger(db, ring, published, from_seq=from_seq)
        return VerifyOut.model_validate(service.verification_summary(result))
    result = await service.verify_incrementally(db, ring, published, full=full)
    return VerifyOut.model_validate(service.verification_summary(result))


@router.get("/audit/verification", tags=["audit"])
async def last_verification(db: DbSession, _: Caller) -> VerifyOut:
    """The last verification's verdict and when it ran (operators and admins), without verifying
    again: routing verifies every few seconds in the background (LEDGER_VERIFY_SECONDS)."""
    summary = await service.last_verification(db)
    if summary is None:
        raise NotFound("not_verified_yet", "The ledger has not been verified yet.")
    return VerifyOut.model_validate(summary)
