"""Intake's HTTP API for window terminals (API.md). Thin: parse, call the use case, answer."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Header, Query, UploadFile
from fastapi.responses import JSONResponse

from services.intake.deps import (
    CatalogDep,
    DatabaseDep,
    DigestKey,
    MaxScanBytes,
    NumbersDep,
    OutboxDep,
    RulesDep,
    ScansDep,
)
from services.intake.schemas import (
    ApplicationAcceptedOut,
    ApplicationIn,
    ApplicationOut,
    BundlesOut,
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
from services.intake.usecases.notices import OneTimeNotice
from shared.authz import Caller
from shared.errors import NotFound
from shared.i18n import _
from shared.reference.bundles import Bundle
from shared.reference.catalog import CatalogItem
from shared.webapp import Blobs, DbSession

router = APIRouter(prefix="/v1")


_SUMMARY_FIELDS = {"item_code", "name", "domain", "department", "jurisdiction", "promised_days"}


# A version's name in a query; an unknown one is 404, whatever its spelling.
VersionQuery = Annotated[
    str | None,
    Query(description="a published catalog version (the current one when absent)"),
]


@router.get("/catalog/items", tags=["catalog"], summary="The published list of items")
async def list_items(
    db: DbSession, versions: CatalogDep, version: VersionQuery = None
) -> dict[str, Any]:
    published = await catalog.catalog_version(db, versions, version)
    return {
        "version": published.version,
        "items": [
            item.model_dump(mode="json", include=_SUMMARY_FIELDS)
            for item in published.items.values()
        ],
    }


@router.get("/catalog/items/{item_code}", tags=["catalog"], summary="An item's guide (办事指南)")
async def get_item(
    item_code: str, db: DbSession, versions: CatalogDep, version: VersionQuery = None
) -> CatalogItem:
    published = await catalog.catalog_version(db, versions, version)
    item = published.items.get(item_code)
    if item is None:
        raise NotFound(
            "unknown_item",
            _(
                "No catalog item {item_code} in version {version}.",
                item_code=item_code,
                version=published.version,
            ),
        )
    return item


@router.get("/catalog/bundles", tags=["catalog"], summary="The bundles (一件事) of a version")
async def list_bundles(
    db: DbSession, versions: CatalogDep, version: VersionQuery = None
) -> BundlesOut:
    published = await catalog.catalog_version(db, versions, version)
    return BundlesOut(version=published.version, bundles=list(published.bundles.values()))


@router.get("/catalog/bundles/{bundle_id}", tags=["catalog"], summary="A bundle (一件事)")
async def get_bundle(
    bundle_id: str, db: DbSession, versions: CatalogDep, version: VersionQuery = None
) -> Bundle:
    published = await catalog.catalog_version(db, versions, version)
    bundle = published.bundles.get(bundle_id)
    if bundle is None:
        raise NotFound(
            "unknown_bundle",
            _(
                "No bundle {bundle_id} in catalog version {version}.",
                bundle_id=bundle_id,
                version=published.version,
            ),
        )
    return bundle


@router.get(
    "/catalog/versions",
    tags=["catalog"],
    summary="The published versions of the catalog, and the current one",
)
async def list_catalog_versions(versions: CatalogDep) -> CatalogVersionsOut:
    return CatalogVersionsOut(
        current=versions.version,
        versions=[
            CatalogVersionListed(
                version=v.version,
                published_at=v.published_at,
                published_by=v.published_by,
                items=len(v.items),
                bundles=len(v.bundles),
            )
            for v in versions.versions()
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
    body: CatalogVersionIn, db: DatabaseDep, outbox: OutboxDep, versions: CatalogDep, admin: Caller
) -> CatalogVersionOut:
    command = catalog.PublishCatalog(
        version=body.version, items=body.items, admin=admin, bundles=body.bundles
    )
    published = await catalog.publish_catalog(db, outbox, versions, command)
    return CatalogVersionOut(
        version=published.version,
        published_at=published.published_at,
        items=len(published.items),
        bundles=len(published.bundles),
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
    db: DatabaseDep,
    blobs: Blobs,
    registry: ScansDep,
    max_bytes: MaxScanBytes,
    clerk: Caller,
) -> ScanOut:
    try:
        stored = await scans.upload_scan(
            db, blobs, registry, _chunks(file), clerk, max_bytes=max_bytes
        )
    finally:
        await file.close()
    return ScanOut(sha256=stored.sha256, size=stored.size, content_type=stored.content_type)


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
    db: DatabaseDep,
    outbox: OutboxDep,
    versions: CatalogDep,
    rules: RulesDep,
    numbers: NumbersDep,
    registry: ScansDep,
    digest_key: DigestKey,
    clerk: Caller,
    idempotency_key: Annotated[str, Header(min_length=1, max_length=128)],
) -> JSONResponse:
    # The answer is the one stored with the Idempotency-Key (201 or the one-time notice's 422).
    command = submission.SubmitApplication(body=body, clerk=clerk, idempotency_key=idempotency_key)
    answer = await submission.submit_application(
        db,
        command,
        outbox=outbox,
        catalog=versions,
        rules=rules,
        numbers=numbers,
        scans=registry,
        digest_key=digest_key,
    )
    return JSONResponse(answer.body, status_code=answer.status_code)


@router.get(
    "/applications/{application_no}", tags=["applications"], summary="Progress and timeline"
)
async def get_application(
    application_no: str, db: DbSession, versions: CatalogDep, principal: Caller
) -> ApplicationOut:
    progress = await queries.get_application(db, application_no, principal, versions)
    return ApplicationOut.model_validate(progress, from_attributes=True)


@router.get("/notices/{notice_no}", tags=["applications"], summary="A one-time notice again")
async def get_notice(notice_no: str, db: DbSession, principal: Caller) -> dict[str, Any]:
    return await queries.get_notice(db, notice_no, principal)


@router.post(
    "/applications/{application_no}/supplements",
    status_code=201,
    tags=["applications"],
    summary="Hand in requested (补正) or deferred (容缺) materials at any entitled window",
    response_model=SupplementOut,
    responses={
        403: {"description": "no_notify_right"},
        409: {"description": "no_supplement_expected"},
        422: {"description": "Invalid input, or the one-time notice (incomplete_application)"},
    },
)
async def hand_in_supplement(
    application_no: str,
    body: SupplementIn,
    db: DbSession,
    outbox: OutboxDep,
    versions: CatalogDep,
    rules: RulesDep,
    registry: ScansDep,
    clerk: Caller,
) -> SupplementOut | JSONResponse:
    command = supplements.HandInSupplement(application_no, body, clerk)
    outcome = await supplements.hand_in_supplement(
        db, command, outbox=outbox, catalog=versions, rules=rules, scans=registry
    )
    if isinstance(outcome, OneTimeNotice):
        # Answered, not raised: the request's transaction commits the notice it stored.
        return JSONResponse(outcome.body, status_code=outcome.status_code)
    return SupplementOut.model_validate(outcome, from_attributes=True)


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
    outbox: OutboxDep,
    clerk: Caller,
) -> EvaluationOut:
    command = evaluations.Evaluate(application_no, body.score, body.comment, clerk)
    rated = await evaluations.evaluate(db, outbox, command)
    return EvaluationOut.model_validate(rated, from_attributes=True)


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
