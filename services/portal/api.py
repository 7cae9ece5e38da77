"""The JSON API for apps (`/v1/me/...`): the same session as the pages, the token sent as a
bearer (`Authorization: Bearer <the cookie's value>`), the same rules: L2, own applications
only."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from services.portal.deps import BackendDep, SignedIn
from services.portal.usecases import applications

router = APIRouter(prefix="/v1/me", tags=["me"])


@router.get("", summary="Who is signed in, and at which level")
async def me(session: SignedIn) -> dict[str, Any]:
    return {"level": f"L{int(session.applicant.level)}"}


@router.get("/applications", summary="My online applications")
async def my_applications(session: SignedIn, backend: BackendDep) -> dict[str, Any]:
    return {"applications": await applications.mine(backend, session.applicant.id_digest)}


@router.get("/applications/{application_no}", summary="One of mine: status and timeline")
async def my_application(
    application_no: str, session: SignedIn, backend: BackendDep
) -> dict[str, Any]:
    return await applications.one(backend, session.applicant.id_digest, application_no)
