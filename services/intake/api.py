"""Intake's HTTP API for window terminals (API.md)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse
from sqlalchemy import select

from services.intake import service
from services.intake.db import ApplicationRow, CatalogItemRow, NoticeRow, TimelineEntryRow
from services.intake.routing_client import RoutingClient
from services.intake.schemas import (
    ApplicationAcceptedOut,
    ApplicationIn,
    ApplicationOut,
    TimelineEntryOut,
)
from shared.auth import CurrentPrincipal, Principal, WindowClerk
from shared.errors import ApiError
from shared.reference.catalog import CatalogItem
from shared.reference.localities import is_within
from shared.webapp import DbSession, Runtime

router = APIRouter(prefix="/v1")


@router.get("/catalog/items", tags=["catalog"], summary="The published list of items")
async def list_items(db: DbSession) -> dict[str, list[dict[str, Any]]]:
    rows = await db.scalars(select(CatalogItemRow).order_by(CatalogItemRow.item_code))
    summaries = [
        {
            key: row.guide[key]
            for key in (
                "item_code",
                "name",
                "domain",
                "department",
                "jurisdiction",
                "promised_days",
            )
        }
        for row in rows
    ]
    return {"items": summaries}


@router.get("/catalog/items/{item_code}", tags=["catalog"], summary="An item's guide (办事指南)")
async def get_item(item_code: str, db: DbSession) -> CatalogItem:
    row = await db.get(CatalogItemRow, item_code)
    if row is None:
        raise ApiError(404, "unknown_item", f"No catalog item {item_code}.")
    return CatalogItem.model_validate(row.guide)


@router.post(
    "/applications",
    status_code=201,
    tags=["applications"],
    summary="Hand in an application at this window",
    response_model=ApplicationAcceptedOut,
    responses={
        422: {"description": "Invalid input, or the one-time notice (incomplete_application)"},
        403: {"description": "no_accept_right"},
        409: {"description": "Idempotency-Key reused with a different body"},
    },
)
async def submit_application(
    body: ApplicationIn,
    request: Request,
    runtime: Runtime,
    clerk: WindowClerk,
    idempotency_key: Annotated[str, Header(min_length=1, max_length=128)],
) -> JSONResponse:
    routing: RoutingClient = request.app.state.routing
    answer = await service.submit_application(
        service.SubmitApplication(
            body=body,
            clerk=clerk,
            idempotency_key=idempotency_key,
            authorization=request.headers["authorization"],
        ),
        db=runtime.db,
        outbox=runtime.outbox,
        routing=routing,
    )
    return JSONResponse(answer.body, status_code=answer.status_code)


def _may_follow(principal: Principal, application: ApplicationRow) -> bool:
    return any(
        is_within(code, principal.locality)
        for code in (application.receiving_locality, application.competent_locality)
    )


@router.get(
    "/applications/{application_no}", tags=["applications"], summary="Progress and timeline"
)
async def get_application(
    application_no: str, db: DbSession, principal: CurrentPrincipal
) -> ApplicationOut:
    application = await db.get(ApplicationRow, application_no)
    # Another locality's application is reported as absent, not forbidden: numbers leak nothing.
    if application is None or not _may_follow(principal, application):
        raise ApiError(404, "application_not_found", f"No application {application_no}.")
    entries = await db.scalars(
        select(TimelineEntryRow)
        .where(TimelineEntryRow.application_no == application_no)
        .order_by(TimelineEntryRow.at, TimelineEntryRow.id)
    )
    return ApplicationOut(
        application_no=application.application_no,
        status=application.status,
        item_code=application.item_code,
        competent_locality=application.competent_locality,
        receiving_locality=application.receiving_locality,
        window_id=application.window_id,
        promised_date=application.promised_date,
        deferred=application.deferred,
        timeline=[TimelineEntryOut.model_validate(e, from_attributes=True) for e in entries],
    )


@router.get("/notices/{notice_no}", tags=["applications"], summary="A one-time notice again")
async def get_notice(notice_no: str, db: DbSession, principal: CurrentPrincipal) -> dict[str, Any]:
    notice = await db.get(NoticeRow, notice_no)
    if notice is None or not is_within(notice.receiving_locality, principal.locality):
        raise ApiError(404, "notice_not_found", f"No notice {notice_no}.")
    return {
        "notice_no": notice.notice_no,
        "item_code": notice.item_code,
        "window_id": notice.window_id,
        "issued_at": notice.issued_at.isoformat(),
        "problems": notice.problems,
    }
