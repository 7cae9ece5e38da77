"""Intake's HTTP API for window terminals (API.md). Thin: parse, call the use case, answer."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import JSONResponse

from services.intake import service
from services.intake.schemas import ApplicationAcceptedOut, ApplicationIn, ApplicationOut
from shared.auth import CurrentPrincipal, WindowClerk
from shared.errors import NotFound
from shared.reference.catalog import CatalogItem
from shared.webapp import DbSession

router = APIRouter(prefix="/v1")


async def _intake(request: Request) -> service.Intake:
    intake: service.Intake = request.app.state.intake
    return intake


Intake = Annotated[service.Intake, Depends(_intake)]

_SUMMARY_FIELDS = ("item_code", "name", "domain", "department", "jurisdiction", "promised_days")


@router.get("/catalog/items", tags=["catalog"], summary="The published list of items")
async def list_items(intake: Intake) -> dict[str, list[dict[str, Any]]]:
    return {
        "items": [
            item.model_dump(mode="json", include=set(_SUMMARY_FIELDS))
            for item in intake.catalog.values()
        ]
    }


@router.get("/catalog/items/{item_code}", tags=["catalog"], summary="An item's guide (办事指南)")
async def get_item(item_code: str, intake: Intake) -> CatalogItem:
    item = intake.catalog.get(item_code)
    if item is None:
        raise NotFound("unknown_item", f"No catalog item {item_code}.")
    return item


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
        413: {"description": "The body is larger than the service accepts"},
    },
)
async def submit_application(
    body: ApplicationIn,
    intake: Intake,
    clerk: WindowClerk,
    idempotency_key: Annotated[str, Header(min_length=1, max_length=128)],
) -> JSONResponse:
    command = service.SubmitApplication(body=body, clerk=clerk, idempotency_key=idempotency_key)
    answer = await service.submit_application(command, intake)
    return JSONResponse(answer.body, status_code=answer.status_code)


@router.get(
    "/applications/{application_no}", tags=["applications"], summary="Progress and timeline"
)
async def get_application(
    application_no: str, db: DbSession, principal: CurrentPrincipal
) -> ApplicationOut:
    return await service.get_application(db, application_no, principal)


@router.get("/notices/{notice_no}", tags=["applications"], summary="A one-time notice again")
async def get_notice(notice_no: str, db: DbSession, principal: CurrentPrincipal) -> dict[str, Any]:
    return await service.get_notice(db, notice_no, principal)
