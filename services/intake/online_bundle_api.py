"""Intake's routes for bundle applications (一件事一次办) handed in through the applicants' portal
(全程网办, channel `online`): the window's bundle use case run for the window the applicant chose,
as applicant_api.py runs the single application's (the same judging, the same combined one-time
notice, the same receipt). Whose each bundle is, and its children, is kept in
`online_applications`; another applicant's bundle number answers 404."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse

from services.intake.applicant_api import (
    ApplicantDigest,
    WindowQuery,
    _at_window,
    _identity_verified,
    _province,
    ensure_the_applicant,
)
from services.intake.bundle_schemas import BundleAcceptedOut, BundleApplicationIn
from services.intake.deps import (
    CatalogDep,
    DatabaseDep,
    DigestKey,
    NumbersDep,
    OutboxDep,
    RulesDep,
    ScansDep,
)
from services.intake.online import bundles_of, owns, record_online
from services.intake.usecases import bundle_intake, bundle_queries
from services.intake.usecases.bundle_judging import SubmitBundle
from services.intake.usecases.catalog import Catalog
from shared.authz import Caller
from shared.errors import NotFound
from shared.i18n import _
from shared.webapp import DbSession

router = APIRouter(prefix="/v1/online", tags=["online (portal)"])


def _members_verified(body: BundleApplicationIn, versions: Catalog) -> BundleApplicationIn:
    """Each member's identity documents taken as checked by the L3 sign-in, as online single
    applications' are (applicant_api.IDENTITY_DOCUMENTS)."""
    members = [
        member.model_copy(
            update={
                "materials": _identity_verified(body.member_application(member), versions).materials
            }
        )
        for member in body.members
    ]
    return body.model_copy(update={"members": members})


def _not_found(bundle_no: str) -> NotFound:
    return NotFound(
        "unknown_bundle_application", _("No bundle application {bundle_no}.", bundle_no=bundle_no)
    )


@router.post(
    "/bundle-applications",
    status_code=201,
    summary="Hand in a bundle application (一件事) online: one combined notice or one receipt",
    response_model=BundleAcceptedOut,
)
async def submit_bundle(
    request: Request,
    window_id: WindowQuery,
    body: BundleApplicationIn,
    applicant: ApplicantDigest,
    db: DatabaseDep,
    outbox: OutboxDep,
    versions: CatalogDep,
    rules: RulesDep,
    numbers: NumbersDep,
    registry: ScansDep,
    digest_key: DigestKey,
    portal: Caller,
    # Kept prefixed with "online:" in the window's keys, within their 128 characters.
    idempotency_key: Annotated[str, Header(min_length=1, max_length=100)],
) -> JSONResponse:
    ensure_the_applicant(body.applicant.id_number, digest_key, applicant)
    command = SubmitBundle(
        body=_members_verified(body, versions),
        clerk=_at_window(request, portal, window_id),
        idempotency_key=f"online:{idempotency_key}",
        channel="online",
    )
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
    if answer.status_code == 201:
        children = [child["application_no"] for child in answer.body["children"]]
        await record_online(db, answer.body["bundle_no"], applicant, window_id, *children)
    return JSONResponse(answer.body, status_code=answer.status_code)


@router.get("/bundle-applications", summary="The applicant's own online bundle applications")
async def list_bundles(
    request: Request, applicant: ApplicantDigest, db: DbSession, portal: Caller
) -> dict[str, Any]:
    viewer = _province(request, portal)
    found = [
        await bundle_queries.bundle_state(db, number, viewer)
        for number in await bundles_of(db, applicant)
    ]
    return {"bundles": [bundle.model_dump(mode="json") for bundle in found]}


@router.get("/bundle-applications/{bundle_no}", summary="One's own bundle and its children")
async def get_bundle(
    request: Request, bundle_no: str, applicant: ApplicantDigest, db: DbSession, portal: Caller
) -> BundleAcceptedOut:
    if not bundle_no.startswith("YJS") or await owns(db, bundle_no, applicant) is None:
        raise _not_found(bundle_no)
    return await bundle_queries.bundle_state(db, bundle_no, _province(request, portal))
