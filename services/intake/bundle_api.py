"""Intake's HTTP API for bundle applications (一件事一次办). Thin: parse, call the use case."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Header, Query
from fastapi.responses import JSONResponse

from services.intake.bundle_schemas import (
    BundleAcceptedOut,
    BundleApplicationIn,
    BundleEvaluationOut,
    BundlesOut,
    BundleTimelineOut,
)
from services.intake.deps import (
    CatalogDep,
    DatabaseDep,
    DigestKey,
    NumbersDep,
    OutboxDep,
    RulesDep,
    ScansDep,
)
from services.intake.schemas import EvaluationIn
from services.intake.usecases import (
    bundle_evaluation,
    bundle_intake,
    bundle_queries,
    bundle_timeline,
)
from services.intake.usecases.bundle_judging import SubmitBundle
from shared.authz import Caller
from shared.webapp import DbSession

router = APIRouter(prefix="/v1")


@router.post(
    "/bundle-applications",
    status_code=201,
    tags=["bundles"],
    summary="Hand in a bundle application (一件事) at this window: one notice or one receipt",
    response_model=BundleAcceptedOut,
    responses={
        422: {
            "description": "Invalid input (unknown_bundle), or the combined one-time notice "
            "(incomplete_application) listing every problem of every member"
        },
        403: {"description": "no_accept_right for one of its members"},
        409: {"description": "Idempotency-Key reused with a different body"},
    },
)
async def submit_bundle(
    body: BundleApplicationIn,
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
    command = SubmitBundle(body=body, clerk=clerk, idempotency_key=idempotency_key)
    answer = await bundle_intake.submit_bundle(
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
    "/bundle-applications/{bundle_no}",
    tags=["bundles"],
    summary="A bundle application's children and their state",
)
async def get_bundle_application(
    bundle_no: str, db: DbSession, principal: Caller
) -> BundleAcceptedOut:
    return await bundle_queries.bundle_state(db, bundle_no, principal)


@router.get(
    "/bundle-applications/{bundle_no}/timeline",
    tags=["bundles"],
    summary="A bundle application's timeline: each department's progress and clock, one "
    "combined supplement request",
)
async def get_bundle_timeline(
    bundle_no: str, db: DbSession, versions: CatalogDep, principal: Caller
) -> BundleTimelineOut:
    found = await bundle_timeline.bundle_timeline(db, bundle_no, principal, versions)
    return BundleTimelineOut.model_validate(found, from_attributes=True)


@router.post(
    "/bundle-applications/{bundle_no}/evaluation",
    status_code=201,
    tags=["bundles"],
    summary="The applicant's one rating of a finished bundle (好差评), given to every member",
    responses={409: {"description": "not_finished or already_evaluated"}},
)
async def evaluate_bundle(
    bundle_no: str, body: EvaluationIn, db: DbSession, outbox: OutboxDep, clerk: Caller
) -> BundleEvaluationOut:
    rated = await bundle_evaluation.evaluate_bundle(
        db, outbox, bundle_no, body.score, body.comment, clerk
    )
    return BundleEvaluationOut.model_validate(rated, from_attributes=True)


@router.get(
    "/bundle-applications",
    tags=["bundles"],
    summary="The bundle applications of the caller's locality, with their stuck members",
)
async def list_bundle_applications(
    db: DbSession,
    principal: Caller,
    status: Annotated[Literal["open", "completed", "failed"] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> BundlesOut:
    found = await bundle_queries.bundles_of(db, principal, status=status, limit=limit)
    return BundlesOut(bundles=found)
