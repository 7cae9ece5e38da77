"""The JSON API for apps (`/v1/me/...`): the same session as the pages, the token sent as a
bearer (`Authorization: Bearer <the cookie's value>`), the same rules: L2, own applications
only."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import ValidationError

from services.portal.deps import BackendDep, SignedIn
from services.portal.domain import Level
from services.portal.schemas import ApplicationsOut, MeOut
from services.portal.usecases import applications, bundles
from services.portal.usecases.reports import record_report
from shared.errors import ApiError
from shared.i18n import _
from shared.sms import REPORT_PATH, SIGNATURE_HEADER, DeliveryReport, report_is_authentic

router = APIRouter(prefix="/v1/me", tags=["me"])
reports = APIRouter(tags=["sms"])


@reports.post(REPORT_PATH, status_code=204, summary="The SMS gateway's delivery report (signed)")
async def delivery_report(request: Request) -> Response:
    """Only a report signed with SMS_REPORT_SECRET is taken: anyone can reach this route."""
    body = await request.body()
    secret = request.app.state.settings.sms_report_secret.get_secret_value().encode()
    if not report_is_authentic(secret, body, request.headers.get(SIGNATURE_HEADER, "")):
        raise ApiError(401, "bad_signature", _("The report's signature does not verify."))
    try:
        report = DeliveryReport.model_validate_json(body)
    except ValidationError as error:
        raise ApiError(422, "invalid_report", _("Not a delivery report.")) from error
    await record_report(request.app.state.signin.db, report)
    return Response(status_code=204)


@router.get("", summary="Who is signed in, and at which level")
async def me(session: SignedIn) -> MeOut:
    return MeOut(level="L3" if session.applicant.level >= Level.L3 else "L2")


@router.get("/applications", summary="My online applications")
async def my_applications(session: SignedIn, backend: BackendDep) -> ApplicationsOut:
    listed = await applications.mine(backend, session.applicant.id_digest)
    return ApplicationsOut.model_validate({"applications": listed})


@router.get("/applications/{application_no}", summary="One of mine: status and timeline")
async def my_application(
    application_no: str, session: SignedIn, backend: BackendDep
) -> dict[str, Any]:
    return await applications.one(backend, session.applicant.id_digest, application_no)


@router.get("/bundles", summary="My online bundle applications (一件事), with their children")
async def my_bundles(session: SignedIn, backend: BackendDep) -> dict[str, Any]:
    return {"bundles": await bundles.mine(backend, session.applicant.id_digest)}


@router.get("/bundles/{bundle_no}", summary="One of my bundles: its children and their state")
async def my_bundle(bundle_no: str, session: SignedIn, backend: BackendDep) -> dict[str, Any]:
    return await bundles.one(backend, session.applicant.id_digest, bundle_no)
