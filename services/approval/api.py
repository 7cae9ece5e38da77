"""Approval's HTTP API for approvers of the competent locality (API.md). Thin: parse, call
the use case (service.py), shape the answer."""

from __future__ import annotations

import base64
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from services.approval.db import CaseRow
from services.approval.domain import DeadlineClock, holder
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
    SealOut,
    SealsOut,
    TransferIn,
)
from services.approval.seals import Seals, locality_of
from services.approval.usecases import cases, certificates, decisions
from shared import clock
from shared.authz import Caller
from shared.blobstore import BlobNotFound
from shared.bounds import Sha256
from shared.crypto.personal import PersonalData
from shared.errors import NotFound
from shared.pagination import MAX_PAGE, Cursor, Limit
from shared.reference.localities import LocalityCode
from shared.vocabulary import CaseStatus
from shared.webapp import Blobs, DbSession, Runtime

router = APIRouter(prefix="/v1")


def _case_out(row: CaseRow, *, lapse: timedelta, personal: PersonalData | None = None) -> CaseOut:
    now = clock.now()
    today = now.date()
    deadline_clock = DeadlineClock(row.accepted_on, row.working_days, row.paused_working_days)
    open_ = row.status == CaseStatus.IN_REVIEW
    fields = dict(
        application_no=row.application_no,
        locality=row.locality,
        department=row.department,
        item_code=row.item_code,
        item_name=row.item_name,
        status=row.status,
        accepted_on=row.accepted_on,
        promised_date=row.application["promised_date"],
        deadline=row.deadline,
        warned_at=row.warned_at,
        overdue_at=row.overdue_at,
        warning=open_ and deadline_clock.warning(today),
        overdue=open_ and deadline_clock.overdue(today),
        claimed_by=holder(row.claimed_by, row.claimed_at, now=now, lapse=lapse),
        requested_materials=row.requested_materials,
        paused_working_days=row.paused_working_days,
        deferred=row.deferred,
        deferred_due_on=row.deferred_due_on,
        transferred_to=row.transferred_to,
        decision=row.decision,
        reason=row.reason,
        override_reason=row.override_reason,
        decided_at=row.decided_at,
        certificate_no=row.certificate_no,
    )
    if personal is not None:  # the detail: the application in clear, for the approver
        application = cases.application_of(row, personal)
        return CaseDetailOut(**fields, application=application, supplements=row.supplements)
    return CaseOut(**fields)


@router.get("/cases", tags=["cases"], summary="Cases of the caller's locality")
async def list_cases(
    db: DbSession,
    runtime: Runtime,
    approver: Caller,
    status: Annotated[CaseStatus | None, Query()] = None,
    overdue: Annotated[bool | None, Query()] = None,
    limit: Limit = MAX_PAGE,
    cursor: Cursor = None,
) -> CasePage:
    rows, next_cursor = await cases.list_cases(
        db, approver, status=status, overdue=overdue, limit=limit, cursor=cursor
    )
    return CasePage(
        cases=[_case_out(row, lapse=_lapse(runtime)) for row in rows], next_cursor=next_cursor
    )


@router.get("/ops/cases", tags=["operations"], summary="Queues per locality (operators)")
async def operations_queue(
    db: DbSession,
    runtime: Runtime,
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
    rows, next_cursor = await cases.operations_queue(
        db,
        operator,
        locality=locality,
        status=status,
        overdue=overdue,
        limit=limit,
        cursor=cursor,
    )
    entries = []
    for row in rows:
        case = _case_out(row, lapse=_lapse(runtime))
        entries.append(QueueEntryOut.model_validate(case.model_dump()))
    return QueuePage(cases=entries, next_cursor=next_cursor)


@router.get("/cases/{application_no}", tags=["cases"])
async def get_case(
    application_no: str, db: DbSession, runtime: Runtime, approver: Caller
) -> CaseDetailOut:
    row = await cases.view_case(
        db, runtime.outbox, application_no, approver, telemetry=runtime.telemetry
    )
    out = _case_out(row, lapse=_lapse(runtime), personal=runtime.personal)
    assert isinstance(out, CaseDetailOut)
    return out


def _lapse(runtime: Runtime) -> timedelta:
    return timedelta(minutes=runtime.settings.claim_lapse_minutes)


@router.post("/cases/{application_no}/claim", tags=["cases"], summary="Hold the case for review")
async def claim_case(
    application_no: str, db: DbSession, runtime: Runtime, approver: Caller
) -> CaseOut:
    row = await cases.claim_case(db, application_no, approver, lapse=_lapse(runtime))
    return _case_out(row, lapse=_lapse(runtime))


@router.post("/cases/{application_no}/release", tags=["cases"], summary="Give the case back")
async def release_case(
    application_no: str, db: DbSession, runtime: Runtime, approver: Caller
) -> CaseOut:
    row = await cases.release_case(db, application_no, approver, lapse=_lapse(runtime))
    return _case_out(row, lapse=_lapse(runtime))


@router.post(
    "/cases/{application_no}/decision",
    tags=["cases"],
    summary="Approve, reject, or request a supplement (补正: the deadline clock pauses)",
    responses={409: {"description": "not_claimed, case_closed or deferred_outstanding"}},
)
async def decide(
    application_no: str, body: DecisionIn, db: DbSession, runtime: Runtime, approver: Caller
) -> CaseOut:
    command = decisions.Decide(
        application_no,
        body.decision,
        body.reason,
        approver,
        materials=body.materials,
        override_reason=body.override_reason,
    )
    row = await decisions.decide(
        db,
        runtime.outbox,
        command,
        digest_key=runtime.settings.pii_digest_key.get_secret_value().encode(),
        telemetry=runtime.telemetry,
        lapse=_lapse(runtime),
        issuer=certificates.Issuer(
            Seals(runtime.settings.key_ring()), runtime.settings.certificate_valid_years
        ),
    )
    return _case_out(row, lapse=_lapse(runtime))


@router.post(
    "/cases/{application_no}/transfer",
    tags=["cases"],
    summary="Hand the case to another locality's approval (移交); routing re-routes it",
    responses={409: {"description": "not_claimed or case_closed"}},
)
async def transfer_case(
    application_no: str, body: TransferIn, db: DbSession, runtime: Runtime, approver: Caller
) -> CaseOut:
    command = cases.Transfer(application_no, body.to_locality, body.reason, approver)
    row = await cases.transfer_case(db, runtime.outbox, command, lapse=_lapse(runtime))
    return _case_out(row, lapse=_lapse(runtime))


@router.get(
    "/cases/{application_no}/materials/{sha256}",
    tags=["cases"],
    summary="A scan of the case's materials (competent locality only; every read recorded)",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/pdf": {}, "image/jpeg": {}, "image/png": {}}}},
)
async def read_material(
    application_no: str,
    sha256: Sha256,
    db: DbSession,
    runtime: Runtime,
    approver: Caller,
    blobs: Blobs,
) -> StreamingResponse:
    await cases.record_material_read(db, runtime.outbox, application_no, sha256, approver)
    try:
        scan = await blobs.open(sha256)
    except BlobNotFound as missing:
        raise NotFound("material_not_found", "The scan is not in the blob store.") from missing
    return StreamingResponse(
        scan.chunks,
        media_type=scan.content_type,
        headers={"Content-Length": str(scan.size), "Cache-Control": "no-store"},
    )


@router.get(
    "/seals",
    tags=["seals"],
    summary="Every locality's electronic seal (电子印章) public keys, current and retired",
)
async def list_seals(runtime: Runtime) -> SealsOut:
    """What a third party verifies a sealed certificate or notice with (contracts/
    CERTIFICATES.md): the key named by the seal's `signer`, whose locality must be the
    document's issuer. No token needed."""
    keys = Seals(runtime.settings.key_ring()).public_keys()
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
    row = document.row
    return CertificateOut(
        number=row.number,
        kind=row.kind,
        application_no=row.application_no,
        locality=row.locality,
        item_code=row.item_code,
        content=document.content.model_dump(mode="json"),
        seal=DocumentSealOut(**document.seal.model_dump()),
        issued_on=row.issued_on,
        valid_until=row.valid_until,
        revoked=row.revoked_at is not None,
        revoked_at=row.revoked_at,
        revoked_reason=row.revoked_reason,
        revoked_by=row.revoked_by,
    )


@router.get(
    "/certificates/{certificate_no}",
    tags=["certificates"],
    summary="A certificate or rejection notice the caller's locality issued, as sealed",
)
async def get_certificate(
    certificate_no: str, db: DbSession, runtime: Runtime, approver: Caller
) -> CertificateOut:
    document = await certificates.view_certificate(db, runtime.personal, certificate_no, approver)
    return _certificate_out(document)


@router.post(
    "/certificates/{certificate_no}/revoke",
    tags=["certificates"],
    summary="Revoke a certificate the caller's locality issued (吊销/撤销)",
    responses={409: {"description": "already_revoked or not_a_certificate"}},
)
async def revoke_certificate(
    certificate_no: str, body: RevokeIn, db: DbSession, runtime: Runtime, approver: Caller
) -> CertificateOut:
    document = await certificates.revoke_certificate(
        db, runtime.outbox, certificate_no, body.reason, approver
    )
    return _certificate_out(document)
