"""Intake's HTTP API for window terminals (API.md). Thin: parse, call the use case, answer."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Header, Query, UploadFile
from fastapi.responses import JSONResponse

from services.intake.deps import IntakeDep as Intake
from services.intake.schemas import (
    ApplicationAcceptedOut,
    ApplicationIn,
    ApplicationOut,
    CatalogVersionIn,
    CatalogVersionListed,
    CatalogVersionOut,
    CatalogVersionsOut,
    EvaluationIn,
    EvaluationOut,
    ScanOut,
    SupplementIn,
    SupplementOut,
)
from services.intake.usecases import catalog, evaluations, queries, scans, submission, supplements
from shared.authz import Caller
from shared.errors import NotFound
from shared.reference.catalog import CatalogItem
from shared.webapp import DbSession

router = APIRouter(prefix="/v1")


_SUMMARY_FIELDS = {"item_code", "name", "domain", "department", "jurisdiction", "promised_days"}


# A version's name in a query; an unknown one is 404, whatever its spelling.
VersionQuery = Annotated[
    str | None,
    Query(description="a published catalog version (the current one when absent)"),
]


@router.get("/catalog/items", tags=["catalog"], summary="The published list of items")
async def list_items(intake: Intake, version: VersionQuery = None) -> dict[str, Any]:
    published = await catalog.catalog_version(intake, version)
    return {
        "version": published.version,
        "items": [
            item.model_dump(mode="json", include=_SUMMARY_FIELDS)
            for item in published.items.values()
        ],
    }


@router.get("/catalog/items/{item_code}", tags=["catalog"], summary="An item's guide (办事指南)")
async def get_item(item_code: str, intake: Intake, version: VersionQuery = None) -> CatalogItem:
    published = await catalog.catalog_version(intake, version)
    item = published.items.get(item_code)
    if item is None:
        raise NotFound(
            "unknown_item", f"No catalog item {item_code} in version {published.version}."
        )
    return item


@router.get(
    "/catalog/versions",
    tags=["catalog"],
    summary="The published versions of the catalog, and the current one",
)
async def list_catalog_versions(intake: Intake) -> CatalogVersionsOut:
    catalog = intake.catalog
    return CatalogVersionsOut(
        current=catalog.version,
        versions=[
            CatalogVersionListed(
                version=v.version,
                published_at=v.published_at,
                published_by=v.published_by,
                items=len(v.items),
            )
            for v in catalog.versions()
        ],
    )


@router.post(
    "/catalog/versions",
    status_code=201,
    tags=["catalog"],
    summary="Publish a new version of the catalog (the province's administration)",
    responses={
        403: {
            "description": "Not an admin (forbidden_role), or not the province's own "
            "(not_province_admin)"
        },
        409: {"description": "version_exists: a version of that name was published before"},
        422: {"description": "Invalid input, such as an item_code listed twice"},
    },
)
async def publish_catalog_version(
    body: CatalogVersionIn, intake: Intake, admin: Caller
) -> CatalogVersionOut:
    command = catalog.PublishCatalog(version=body.version, items=body.items, admin=admin)
    published = await catalog.publish_catalog(intake, command)
    return CatalogVersionOut(
        version=published.version, published_at=published.published_at, items=len(published.items)
    )


async def _chunks(upload: UploadFile, size: int = 1 << 20) -> AsyncIterator[bytes]:
    while chunk := await upload.read(size):
        yield chunk


@router.post(
    "/materials",
    status_code=201,
    tags=["materials"],
    summary="Upload the scan of one material (PDF, JPEG or PNG; 收件转交)",
    responses={
        413: {"description": "The scan is larger than the limit (20 MiB by default)"},
        415: {"description": "Not a PDF, JPEG or PNG (told from the bytes, not the name)"},
    },
)
async def upload_material(
    file: Annotated[UploadFile, File(description="The scan")],
    intake: Intake,
    clerk: Caller,
) -> ScanOut:
    try:
        return await scans.upload_scan(intake, _chunks(file), clerk)
    finally:
        await file.close()


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
    clerk: Caller,
    idempotency_key: Annotated[str, Header(min_length=1, max_length=128)],
) -> JSONResponse:
    command = submission.SubmitApplication(body=body, clerk=clerk, idempotency_key=idempotency_key)
    answer = await submission.submit_application(command, intake)
    return JSONResponse(answer.body, status_code=answer.status_code)


@router.get(
    "/applications/{application_no}", tags=["applications"], summary="Progress and timeline"
)
async def get_application(application_no: str, db: DbSession, principal: Caller) -> ApplicationOut:
    return await queries.get_application(db, application_no, principal)


@router.get("/notices/{notice_no}", tags=["applications"], summary="A one-time notice again")
async def get_notice(notice_no: str, db: DbSession, principal: Caller) -> dict[str, Any]:
    return await queries.get_notice(db, notice_no, principal)


@router.post(
    "/applications/{application_no}/supplements",
    status_code=201,
    tags=["applications"],
    summary="Hand in requested (补正) or deferred (容缺) materials at any entitled window",
    responses={
        403: {"description": "no_notify_right"},
        409: {"description": "no_supplement_expected"},
        422: {"description": "Invalid input, or the one-time notice (incomplete_application)"},
    },
)
async def hand_in_supplement(
    application_no: str, body: SupplementIn, intake: Intake, clerk: Caller
) -> SupplementOut:
    command = supplements.HandInSupplement(application_no, body, clerk)
    return await supplements.hand_in_supplement(intake, command)


@router.post(
    "/applications/{application_no}/evaluation",
    status_code=201,
    tags=["applications"],
    summary="The applicant's rating of a finished application (好差评), once",
    responses={409: {"description": "not_finished or already_evaluated"}},
)
async def evaluate(
    application_no: str,
    body: EvaluationIn,
    db: DbSession,
    intake: Intake,
    clerk: Caller,
) -> EvaluationOut:
    command = evaluations.Evaluate(application_no, body.score, body.comment, clerk)
    row = await evaluations.evaluate(db, intake.outbox, command)
    return EvaluationOut.model_validate(row, from_attributes=True)


@router.get(
    "/evaluations/statistics",
    tags=["evaluations"],
    summary="Ratings per window, receiving locality or item (operators)",
)
async def evaluation_statistics(
    db: DbSession,
    operator: Caller,
    by: Annotated[Literal["window", "locality", "item"], Query()] = "window",
) -> dict[str, Any]:
    return {"by": by, "groups": await evaluations.evaluation_statistics(db, operator, by)}
