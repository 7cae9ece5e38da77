"""Routing's HTTP API: jurisdiction resolution and trust agreements (API.md)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Annotated, Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field, field_validator
from sqlalchemy import select

from services.routing import service
from services.routing.db import AgreementRow
from services.routing.domain import RIGHTS, JurisdictionError, competent_locality, rights_of
from shared.auth import Admin, CurrentPrincipal, Principal
from shared.errors import ApiError
from shared.reference.localities import PROVINCE, LocalityCode, is_known_locality, is_within
from shared.webapp import DbSession

router = APIRouter(prefix="/v1")


class ResolveRequest(BaseModel):
    item_code: str
    applicant_locality: LocalityCode
    property_locality: LocalityCode | None = None
    receiving_locality: LocalityCode | None = Field(
        None, description="If given, the answer also lists the rights its windows hold."
    )


class ResolveResponse(BaseModel):
    competent_locality: str
    department: str
    receiving_rights: list[str] | None = None


@router.post("/jurisdiction/resolve", tags=["jurisdiction"])
async def resolve(
    body: ResolveRequest, db: DbSession, principal: CurrentPrincipal
) -> ResolveResponse:
    if (
        principal.role == "window_clerk"
        and body.receiving_locality
        and body.receiving_locality != principal.locality
    ):
        raise ApiError(403, "not_your_locality", "A window asks only about its own rights.")
    rule = await service.get_rule(db, body.item_code)
    if rule is None:
        raise ApiError(
            422, "unknown_item", f"No catalog item {body.item_code}.", {"field": "item_code"}
        )
    try:
        competent = competent_locality(
            rule,
            applicant_locality=body.applicant_locality,
            property_locality=body.property_locality,
            province=PROVINCE,
        )
    except JurisdictionError as exc:
        raise ApiError(422, exc.code, str(exc), [{"field": exc.field}]) from exc
    rights = None
    if body.receiving_locality:
        agreements = await service.active_agreements(db)
        rights = rights_of(
            body.receiving_locality, competent, body.item_code, agreements, today=service.today()
        )
    return ResolveResponse(
        competent_locality=competent, department=rule.department, receiving_rights=rights
    )


class AgreementIn(BaseModel):
    grantor_locality: LocalityCode
    grantee_locality: Annotated[str, Field(pattern=r"^(\d{6}|\*)$")]
    item_codes: list[str] = Field(min_length=1)
    rights: list[Literal["accept", "notify", "verify_original", "deliver"]] = Field(min_length=1)
    valid_until: date | None = None

    @field_validator("rights")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        return [right for right in RIGHTS if right in value]


class AgreementOut(AgreementIn):
    id: str
    created_at: datetime
    created_by: str
    revoked_at: datetime | None = None


def _out(row: AgreementRow) -> AgreementOut:
    return AgreementOut.model_validate(row, from_attributes=True)


@router.get("/agreements", tags=["agreements"])
async def list_agreements(db: DbSession, _: CurrentPrincipal) -> dict[str, list[AgreementOut]]:
    rows = await db.scalars(select(AgreementRow).order_by(AgreementRow.created_at))
    return {"agreements": [_out(row) for row in rows]}


def _may_administer(principal: Principal, grantor: str) -> bool:
    return is_within(grantor, principal.locality)


@router.post("/agreements", status_code=201, tags=["agreements"])
async def create_agreement(body: AgreementIn, db: DbSession, principal: Admin) -> AgreementOut:
    if not _may_administer(principal, body.grantor_locality):
        raise ApiError(403, "not_grantor", "Only the grantor locality's administration may grant.")
    for code in (body.grantor_locality, body.grantee_locality):
        if code != "*" and not is_known_locality(code):
            raise ApiError(422, "unknown_locality", f"Unknown locality code {code}.")
    row = AgreementRow(
        id=str(uuid.uuid4()),
        created_by=principal.sub,
        created_at=datetime.now(UTC),
        **body.model_dump(),
    )
    db.add(row)
    await db.flush()
    return _out(row)


@router.delete("/agreements/{agreement_id}", tags=["agreements"])
async def revoke_agreement(agreement_id: str, db: DbSession, principal: Admin) -> AgreementOut:
    row = await db.get(AgreementRow, agreement_id)
    if row is None:
        raise ApiError(404, "agreement_not_found", "No such agreement.")
    if not _may_administer(principal, row.grantor_locality):
        raise ApiError(403, "not_grantor", "Only the grantor locality's administration may revoke.")
    if row.revoked_at is None:
        row.revoked_at = datetime.now(UTC)
    return _out(row)
