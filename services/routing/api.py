"""Routing's HTTP API: jurisdiction resolution and trust agreements (API.md). Thin: parse,
call the use case, shape the answer."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from services.routing import service
from services.routing.db import AgreementRow
from shared.authz import Caller
from shared.bounds import MAX_RIGHTS_LIST, Code
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
