"""Approval's HTTP API for approvers of the competent locality (API.md). Thin: parse, call
one use case (usecases/), shape the answer (schemas.py). Collaborators come from deps.py."""

from __future__ import annotations

import base64
from typing import Annotated

from fastapi import APIRouter, Query, Response
from fastapi.responses import JSONResponse, StreamingResponse

from services.approval.deps import (
    ClaimLapse,
    DigestKey,
    IssuerDep,
    OutboxDep,
    PersonalDep,
    SealsDep,
    TelemetryDep,
)
from services.approval.schemas import (
    CaseDetailOut,
    CaseOut,
    CasePage,
    CertificateOut,
    DecisionIn,
    DocumentSealOut,
    QueueEntryOut,
    QueuePage,
    RevokeIn,
    ScanRequestedOut,
    SealOut,
    SealsOut,
    TransferIn,
    VideoVerificationOut,
)
from services.approval.seals import locality_of
from services.approval.usecases import cases, certificates, decisions, scans, video
from shared.authz import Caller
from shared.blobstore import BlobNotFound
from shared.bounds import Sha256
from shared.errors import NotFound
from shared.federation.agreements import AGREEMENTS
from shared.i18n import _
from shared.pagination import MAX_PAGE, Cursor, Limit
from shared.reference.localities import LocalityCode
from shared.vocabulary import CaseStatus
from shared.webapp import Blobs, DbSession

router = APIRouter(prefix="/v1")


def _case_out(case: cases.Case) -> CaseOut:
    return CaseOut.model_validate(case, from_attributes=True)


@router.get("/cases", tags=["cases"], summary="Cases of the caller's locality")
async def list_cases(
    db: DbSession,
    lapse: ClaimLapse,
    approver: Caller,
    status: Annotated[CaseStatus | None, Query()] = None,
    overdue: Annotated[bool | None, Query()] = None,
    limit: Limit = MAX_PAGE,
    cursor: Cursor = None,
) -> CasePage:
    found, next_cursor = await cases.list_cases(
        db, approver, lapse=lapse, status=status, overdue=overdue, limit=limit, cursor=cursor
    )
    return CasePage(cases=[_case_out(case) for case in found], next_cursor=next_cursor)


@router.get("/ops/cases", tags=["operations"], summary="Queues per locality (operators)")
async def operations_queue(
    db: DbSession,
    lapse: ClaimLapse,
    operator: Caller,
    locality: Annotated[LocalityCode | None, Query()] = None,
    status: Annotated[CaseStatus | None, Query()] = CaseStatus.IN_REVIEW,
    overdue: Annotated[bool | None, Query()] = None,
    limit: Limit = MAX_PAGE,
    cursor: Cursor = None,
) -> QueuePage:
    """The cases of the caller's locality (or of `locality` within it), the nearest deadline
    first; open ones (`in_review`) unless `status` says otherwise. A locality outside the
    caller's answers an empty page."""
    found, next_cursor = await cases.operations_queue(
        db,
        operator,
        lapse=lapse,
        locality=locality,
        status=status,
        overdue=overdue,
        limit=limit,
        cursor=cursor,
    )
    entries = [QueueEntryOut.model_validate(case, from_attributes=True) for case in found]
    return QueuePage(cases=entries, next_cursor=next_cursor)


@router.get("/cases/{application_no}", tags=["cases"])
async def get_case(
    application_no: str,
    db: DbSession,
    outbox: OutboxDep,
    telemetry: TelemetryDep,
    lapse: ClaimLapse,
    approver: Caller,
) -> CaseDetailOut:
    """The detail: the application in clear, for the approver, with the originals of its
    materials verified by video (视频核验) and their calls' recordings."""
    case = await cases.view_case(
        db, outbox, application_no, approver, telemetry=telemetry, lapse=lapse
    )
    detail = CaseDetailOut.model_validate(case, from_attributes=True)
    seen = await video.verifications_of(db, application_no, case.locality, case.item_code)
    detail.video_verifications = [
        VideoVerificationOut.model_validate(verification, from_attributes=True)
        for verification in seen
    ]
    return detail


@router.post("/cases/{application_no}/claim", tags=["cases"], summary="Hold the case for review")
async def claim_case(
    application_no: str, db: DbSession, lapse: ClaimLapse, approver: Caller
) -> CaseOut:
    return _case_out(await cases.claim_case(db, application_no, approver, lapse=lapse))


@router.post("/cases/{application_no}/release", tags=["cases"], summary="Give the case back")
async def release_case(
    application_no: str, db: DbSession, lapse: ClaimLapse, approver: Caller
) -> CaseOut:
    return _case_out(await cases.release_case(db, application_no, approver, lapse=lapse))


@router.post(
    "/cases/{application_no}/decision",
    tags=["cases"],
    summary="Approve, reject, or request a supplement (补正: the deadline clock pauses)",
    responses={409: {"description": "not_claimed, case_closed or deferred_outstanding"}},
)
async def decide(
    application_no: str,
    body: DecisionIn,
    db: DbSession,
    outbox: OutboxDep,
    telemetry: TelemetryDep,
    issuer: IssuerDep,
    digest_key: DigestKey,
    lapse: ClaimLapse,
    approver: Caller,
) -> CaseOut:
    command = decisions.Decide(
        application_no,
        body.decision,
        body.reason,
        approver,
        materials=body.materials,
        override_reason=body.override_reason,
    )
    case = await decisions.decide(
        db,
        outbox,
        command,
        digest_key=digest_key,
        telemetry=telemetry,
        lapse=lapse,
        issuer=issuer,
    )
    return _case_out(case)


@router.post(
    "/cases/{application_no}/transfer",
    tags=["cases"],
    summary="Hand the case to another locality's approval (移交); routing re-routes it",
    responses={409: {"description": "not_claimed or case_closed"}},
)
async def transfer_case(
    application_no: str,
    body: TransferIn,
    db: DbSession,
    outbox: OutboxDep,
    lapse: ClaimLapse,
    approver: Caller,
) -> CaseOut:
    command = decisions.Transfer(application_no, body.to_locality, body.reason, approver)
    return _case_out(await decisions.transfer_case(db, outbox, command, lapse=lapse))


@router.get(
    "/cases/{application_no}/materials/{sha256}",
    tags=["cases"],
    summary="A scan of the case's materials (competent locality only; every read recorded)",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"application/pdf": {}, "image/jpeg": {}, "image/png": {}}},
        202: {
            "model": ScanRequestedOut,
            "description": "跨省通办: the scan is at the partner province's window; asked for",
        },
    },
)
async def read_material(
    application_no: str,
    sha256: Sha256,
    db: DbSession,
    outbox: OutboxDep,
    approver: Caller,
    blobs: Blobs,
) -> Response:
    try:
        found = await scans.read_or_request(db, outbox, blobs, application_no, sha256, approver)
    except BlobNotFound as missing:
        raise NotFound("material_not_found", _("The scan is not in the blob store.")) from missing
    if isinstance(found, scans.ScanRequested):
        asked = ScanRequestedOut(
            status="scan_requested",
            message=_(
                "This scan is kept in {province}, whose window accepted the application: it "
                "has been requested from there and will be checked against the application's "
                "digest when it arrives. Open it again in a moment.",
                province=AGREEMENTS.province_name(found.partner_province),
            ),
            application_no=found.application_no,
            sha256=found.sha256,
            partner_province=found.partner_province,
            requested_at=found.requested_at,
        )
        return JSONResponse(asked.model_dump(mode="json"), status_code=202)
    return StreamingResponse(
        found.chunks,
        media_type=found.content_type,
        headers={"Content-Length": str(found.size), "Cache-Control": "no-store"},
    )


@router.get(
    "/seals",
    tags=["seals"],
    summary="Every locality's electronic seal (电子印章) public keys, current and retired",
)
async def list_seals(seals: SealsDep) -> SealsOut:
    """What a third party verifies a sealed certificate or notice with (contracts/
    CERTIFICATES.md): the key named by the seal's `signer`, whose locality must be the
    document's issuer. No token needed."""
    keys = seals.public_keys()
    return SealsOut(
        seals=[
            SealOut(
                kid=key.kid,
                locality=locality_of(key),
                algorithm=key.algorithm,
                public_key=base64.b64encode(key.public_key).decode("ascii"),
                valid_from=key.valid_from,
                # Retired: what it sealed stays valid; revoked: nothing from that day on.
                valid_until=key.ended_at,
                current=key.status == "current",
            )
            for key in keys
        ]
    )


def _certificate_out(document: certificates.IssuedDocument) -> CertificateOut:
    return CertificateOut(
        number=document.number,
        kind=document.kind,
        application_no=document.application_no,
        locality=document.locality,
        item_code=document.item_code,
        content=document.content.model_dump(mode="json"),
        seal=DocumentSealOut(**document.seal.model_dump()),
        issued_on=document.issued_on,
        valid_until=document.valid_until,
        revoked=document.revoked_at is not None,
        revoked_at=document.revoked_at,
        revoked_reason=document.revoked_reason,
        revoked_by=document.revoked_by,
    )


@router.get(
    "/certificates/{certificate_no}",
    tags=["certificates"],
    summary="A certificate or rejection notice the caller's locality issued, as sealed",
)
async def get_certificate(
    certificate_no: str, db: DbSession, personal: PersonalDep, approver: Caller
) -> CertificateOut:
    document = await certificates.view_certificate(db, personal, certificate_no, approver)
    return _certificate_out(document)


@router.post(
    "/certificates/{certificate_no}/revoke",
    tags=["certificates"],
    summary="Revoke a certificate the caller's locality issued (吊销/撤销)",
    responses={409: {"description": "already_revoked or not_a_certificate"}},
)
async def revoke_certificate(
    certificate_no: str, body: RevokeIn, db: DbSession, outbox: OutboxDep, approver: Caller
) -> CertificateOut:
    document = await certificates.revoke_certificate(
        db, outbox, certificate_no, body.reason, approver
    )
    return _certificate_out(document)
