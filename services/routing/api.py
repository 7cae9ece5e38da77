"""Routing's HTTP API: jurisdiction resolution, trust agreements and the audit ledger
(API.md). Thin: parse, call the use case, shape the answer."""

from __future__ import annotations

import base64
from typing import Annotated

from fastapi import APIRouter, Query

from services.routing.deps import OutboxDep, Published, TrustList
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
from services.routing.usecases import agreements, ledger, routing, verification
from shared.audit.ledger import Sealed, timestamp
from shared.authz import Caller
from shared.errors import NotFound
from shared.i18n import _
from shared.pagination import MAX_PAGE, Cursor, Limit
from shared.vocabulary import Right
from shared.webapp import DbSession

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


def _out(agreement: agreements.StoredAgreement) -> AgreementOut:
    return AgreementOut.model_validate(agreement, from_attributes=True)


@router.get("/agreements", tags=["agreements"])
async def list_agreements(
    db: DbSession, _: Caller, limit: Limit = MAX_PAGE, cursor: Cursor = None
) -> AgreementPage:
    stored, next_cursor = await agreements.list_agreements(db, limit=limit, cursor=cursor)
    return AgreementPage(
        agreements=[_out(agreement) for agreement in stored], next_cursor=next_cursor
    )


@router.post("/agreements", status_code=201, tags=["agreements"])
async def create_agreement(
    body: AgreementIn, db: DbSession, outbox: OutboxDep, admin: Caller
) -> AgreementOut:
    command = agreements.GrantAgreement(**body.model_dump(), admin=admin)
    return _out(await agreements.grant_agreement(db, outbox, command))


@router.delete("/agreements/{agreement_id}", tags=["agreements"])
async def revoke_agreement(
    agreement_id: str, db: DbSession, outbox: OutboxDep, admin: Caller
) -> AgreementOut:
    return _out(await agreements.revoke_agreement(db, outbox, agreement_id, admin))


def _entry_out(sealed: Sealed) -> LedgerEntryOut:
    entry = sealed.entry
    return LedgerEntryOut(
        seq=entry.seq,
        event_type=entry.event_type,
        at=timestamp(entry.at),
        prev_hash=sealed.prev_hash,
        hash=sealed.hash,
        signature=None
        if sealed.signature is None
        else base64.b64encode(sealed.signature).decode("ascii"),
        signer=sealed.signer,
        event_id=entry.event_id,
        event_time=timestamp(entry.event_time),
        source=entry.source,
        subject=entry.subject,
        topic=entry.topic,
        partition=entry.partition,
        offset=entry.offset,
        record_sm3=entry.record_sm3,
    )


@router.get("/audit/applications/{application_no}", tags=["audit"])
async def application_ledger(application_no: str, db: DbSession, _: Caller) -> ApplicationLedgerOut:
    """Every ledger entry of one application's events (operators and admins), oldest first;
    empty until the ledger has read its first event."""
    entries = await ledger.ledger_of_application(db, application_no)
    return ApplicationLedgerOut(
        application_no=application_no, entries=[_entry_out(sealed) for sealed in entries]
    )


@router.get("/audit/verify", tags=["audit"])
async def verify_ledger(
    db: DbSession,
    ring: TrustList,
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
    result = await verification.verify(db, ring, published, from_seq=from_seq, full=full)
    return VerifyOut.model_validate(verification.verification_summary(result))


@router.get("/audit/verification", tags=["audit"])
async def last_verification(db: DbSession, _operator: Caller) -> VerifyOut:
    """The last verification's verdict and when it ran (operators and admins), without verifying
    again: routing verifies every few seconds in the background (LEDGER_VERIFY_SECONDS)."""
    summary = await verification.last_verification(db)
    if summary is None:
        raise NotFound("not_verified_yet", _("The ledger has not been verified yet."))
    return VerifyOut.model_validate(summary)
