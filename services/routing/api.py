"""Routing's HTTP API: jurisdiction resolution, trust agreements and the audit ledger
(API.md). Thin: parse, call the use case, shape the answer."""

from __future__ import annotations

import base64
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from services.routing import ledger
from services.routing.checkpoints import CheckpointFollower
from services.routing.db import AgreementRow, LedgerRow
from services.routing.schemas import (
    AgreementIn,
    AgreementOut,
    AgreementPage,
    ApplicationLedgerOut,
    LedgerEntryOut,
    ResolveRequest,
    ResolveResponse,
    VerifyOut,
)
from services.routing.usecases import agreements, routing, verification
from services.routing.usecases import ledger as ledger_usecases
from shared.authz import Caller
from shared.errors import NotFound
from shared.pagination import MAX_PAGE, Cursor, Limit
from shared.vocabulary import Right
from shared.webapp import DbSession, Runtime

router = APIRouter(prefix="/v1")


@router.post("/jurisdiction/resolve", tags=["jurisdiction"])
async def resolve(body: ResolveRequest, db: DbSession, principal: Caller) -> ResolveResponse:
    resolution = await routing.resolve(
        db,
        routing.Resolve(
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


def _out(row: AgreementRow) -> AgreementOut:
    return AgreementOut.model_validate(row, from_attributes=True)


@router.get("/agreements", tags=["agreements"])
async def list_agreements(
    db: DbSession, _: Caller, limit: Limit = MAX_PAGE, cursor: Cursor = None
) -> AgreementPage:
    rows, next_cursor = await agreements.list_agreements(db, limit=limit, cursor=cursor)
    return AgreementPage(agreements=[_out(row) for row in rows], next_cursor=next_cursor)


@router.post("/agreements", status_code=201, tags=["agreements"])
async def create_agreement(
    body: AgreementIn, db: DbSession, runtime: Runtime, admin: Caller
) -> AgreementOut:
    command = agreements.GrantAgreement(**body.model_dump(), admin=admin)
    return _out(await agreements.grant_agreement(db, runtime.outbox, command))


@router.delete("/agreements/{agreement_id}", tags=["agreements"])
async def revoke_agreement(
    agreement_id: str, db: DbSession, runtime: Runtime, admin: Caller
) -> AgreementOut:
    return _out(await agreements.revoke_agreement(db, runtime.outbox, agreement_id, admin))


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


@router.get("/audit/applications/{application_no}", tags=["audit"])
async def application_ledger(application_no: str, db: DbSession, _: Caller) -> ApplicationLedgerOut:
    """Every ledger entry of one application's events (operators and admins), oldest first;
    empty until the ledger has read its first event."""
    rows = await ledger_usecases.ledger_of_application(db, application_no)
    return ApplicationLedgerOut(
        application_no=application_no, entries=[_entry_out(row) for row in rows]
    )


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
        result = await verification.verify_ledger(db, ring, published, from_seq=from_seq)
        return VerifyOut.model_validate(verification.verification_summary(result))
    result = await verification.verify_incrementally(db, ring, published, full=full)
    return VerifyOut.model_validate(verification.verification_summary(result))


@router.get("/audit/verification", tags=["audit"])
async def last_verification(db: DbSession, _: Caller) -> VerifyOut:
    """The last verification's verdict and when it ran (operators and admins), without verifying
    again: routing verifies every few seconds in the background (LEDGER_VERIFY_SECONDS)."""
    summary = await verification.last_verification(db)
    if summary is None:
        raise NotFound("not_verified_yet", "The ledger has not been verified yet.")
    return VerifyOut.model_validate(summary)
