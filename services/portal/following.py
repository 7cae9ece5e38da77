"""The applicant's own applications (L2): the list, one with its status and timeline, handing
in a supplement online, and the rating once it is finished."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import UploadFile

from services.portal.deps import BackendDep, SignedIn, check_csrf
from services.portal.pages import render
from services.portal.usecases import applications, bundles, wallet

router = APIRouter()

FINISHED = {"delivered", "rejected"}


@router.get("/applications", summary="我的办件")
async def my_applications(request: Request, session: SignedIn, backend: BackendDep) -> HTMLResponse:
    listed = await applications.mine(backend, session.applicant.id_digest)
    own_bundles = await bundles.mine(backend, session.applicant.id_digest)
    return render(request, "applications.html", session, applications=listed, bundles=own_bundles)


@router.get("/applications/{application_no}", summary="办件进度")
async def my_application(
    request: Request, application_no: str, session: SignedIn, backend: BackendDep
) -> HTMLResponse:
    found = await applications.one(backend, session.applicant.id_digest, application_no)
    held = await wallet.certificates(backend, session.applicant.id_digest)
    return render(
        request,
        "application.html",
        session,
        application=found,
        certificates=[c for c in held if c.get("application_no") == application_no],
        finished=found.get("status") in FINISHED,
        outstanding=[*(found.get("requested_materials") or []), *(found.get("deferred") or [])],
    )


@router.post("/applications/{application_no}/supplements", summary="网上补正")
async def hand_in(
    request: Request, application_no: str, session: SignedIn, backend: BackendDep
) -> Response:
    form = await request.form()
    check_csrf(session, str(form.get("csrf", "")))
    found = await applications.one(backend, session.applicant.id_digest, application_no)
    scans = []
    for code in [*(found.get("requested_materials") or []), *(found.get("deferred") or [])]:
        upload = form.get(f"file_{code}")
        if isinstance(upload, UploadFile) and upload.filename:
            content = await upload.read()
            if content:
                scans.append((code, upload.filename[:128], content))
    result = await applications.supplement(
        backend, session.applicant.id_digest, application_no, scans, found["window_id"]
    )
    return _after(request, session, application_no, found, result)


@router.post("/applications/{application_no}/evaluation", summary="好差评")
async def rate(
    request: Request,
    application_no: str,
    session: SignedIn,
    backend: BackendDep,
    score: Annotated[int, Form(ge=1, le=5)],
    csrf: Annotated[str, Form(max_length=128)],
    comment: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    check_csrf(session, csrf)
    result = await applications.rate(
        backend, session.applicant.id_digest, application_no, score, comment
    )
    found = await applications.one(backend, session.applicant.id_digest, application_no)
    return _after(request, session, application_no, found, result)


def _after(
    request: Request,
    session: object,
    application_no: str,
    found: dict[str, object],
    result: applications.Result,
) -> Response:
    if result.ok:
        return RedirectResponse(f"/applications/{application_no}", status_code=303)
    return render(
        request,
        "application.html",
        session,  # type: ignore[arg-type]
        422,
        application=found,
        finished=found.get("status") in FINISHED,
        outstanding=[],
        result=result,
    )


@router.get("/wallet", summary="我的电子证照")
async def my_wallet(request: Request, session: SignedIn, backend: BackendDep) -> HTMLResponse:
    held = await wallet.certificates(backend, session.applicant.id_digest)
    return render(request, "wallet.html", session, certificates=held)


@router.get("/wallet/{certificate_no}.pdf", summary="电子证照 PDF")
async def my_certificate_pdf(
    certificate_no: str, session: SignedIn, backend: BackendDep
) -> Response:
    content = await wallet.pdf(backend, session.applicant.id_digest, certificate_no)
    headers = {
        "Content-Disposition": f'inline; filename="{certificate_no}.pdf"',
        "Cache-Control": "no-store",
    }
    return Response(content, media_type="application/pdf", headers=headers)
