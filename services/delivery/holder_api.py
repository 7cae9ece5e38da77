"""Delivery's routes for the applicants' portal (role `portal` only): the signed-in applicant's
own e-certificates, named by the ID number's keyed digest in `X-Applicant-Digest`, and the PDF
of one of them. Another holder's certificate answers 404, as if it did not exist."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Header
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from services.delivery import pdf
from services.delivery.deps import PersonalDep, PublicBaseUrl, PublicKeysDep
from services.delivery.usecases import printing, wallet
from shared.authz import Caller
from shared.webapp import DbSession

router = APIRouter(prefix="/v1/holder", tags=["holder (portal)"])

HolderDigest = Annotated[
    str,
    Header(
        alias="X-Applicant-Digest",
        pattern=r"^[0-9a-f]{64}$",
        description="the signed-in applicant's ID number, as its keyed digest (PII_DIGEST_KEY)",
    ),
]


@router.get("/certificates", summary="The applicant's own e-certificates (wallet)")
async def own_certificates(
    holder: HolderDigest,
    db: DbSession,
    personal: PersonalDep,
    public_key: PublicKeysDep,
    public_base_url: PublicBaseUrl,
    _portal: Caller,
) -> dict[str, Any]:
    held = await wallet.held_by(
        db, holder, personal=personal, public_key=public_key, public_base_url=public_base_url
    )
    return {"certificates": [asdict(entry) for entry in held]}


@router.get(
    "/certificates/{certificate_no}.pdf",
    summary="One of the applicant's own certificates as PDF",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}}},
)
async def own_certificate_pdf(
    certificate_no: str,
    holder: HolderDigest,
    db: DbSession,
    personal: PersonalDep,
    public_key: PublicKeysDep,
    public_base_url: PublicBaseUrl,
    portal: Caller,
) -> Response:
    printed = await printing.print_document(
        db,
        portal,
        certificate_no,
        personal=personal,
        public_key=public_key,
        public_base_url=public_base_url,
        holder_id_digest=holder,
    )
    content = await run_in_threadpool(pdf.render, printed.document)
    headers = {
        "Content-Disposition": f'inline; filename="{certificate_no}.pdf"',
        "Cache-Control": "no-store",
    }
    return Response(content, media_type="application/pdf", headers=headers)
