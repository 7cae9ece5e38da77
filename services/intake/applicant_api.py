"""Intake's routes for the applicants' portal (全程网办, channel `online`): only the portal's
service credential (role `portal`) reaches them, acting for the applicant it signed in, whom it
names by the ID number's keyed digest in `X-Applicant-Digest`.

Each route runs intake's own use cases as the window the applicant chose would (the same
rules, the same one-time notice): the portal is a channel into intake, not a second intake.
An application another applicant handed in answers 404, as if it did not exist.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Header, Query, Request, UploadFile
from fastapi.responses import JSONResponse

from services.intake.api import _chunks
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
from services.intake.online import applications_of, owns, record_online
from services.intake.schemas import (
    ApplicationIn,
    ApplicationOut,
    EvaluationIn,
    EvaluationOut,
    ScanOut,
    SupplementIn,
    SupplementOut,
)
from services.intake.usecases import evaluations, queries, scans, submission, supplements
from services.intake.usecases.catalog import Catalog
from services.intake.usecases.notices import OneTimeNotice
from shared.auth import Principal
from shared.authz import Caller
from shared.errors import Forbidden, NotFound
from shared.i18n import _
from shared.identity import id_number_digest
from shared.reference.windows import window_locality
from shared.webapp import Blobs, DbSession

router = APIRouter(prefix="/v1/online", tags=["online (portal)"])

ApplicantDigest = Annotated[
    str,
    Header(
        alias="X-Applicant-Digest",
        pattern=r"^[0-9a-f]{64}$",
        description="the signed-in applicant's ID number, as its keyed digest (PII_DIGEST_KEY)",
    ),
]
WindowQuery = Annotated[
    str, Query(min_length=1, max_length=32, description="the window the applicant chose")
]


def _at_window(request: Request, portal: Principal, window_id: str) -> Principal:
    """The portal acting at `window_id`: intake's use cases apply that window's rights."""
    locality = window_locality(window_id, request.app.state.settings.windows_file)
    if locality is None:
        raise Forbidden(
            "unknown_window", _("No registered window {window_id}.", window_id=window_id)
        )
    return Principal(
        sub=f"portal:{portal.sub}"[:64], role="portal", locality=locality, window_id=window_id
    )


# Real-name sign-in at L3 (ID number, name and a code to the registered phone) has verified who
# the applicant is: online it stands in for checking the original of the applicant's own
# identity document. Any other original (a register, a licence) is still checked at a window,
# and the one-time notice says so.
IDENTITY_DOCUMENTS = frozenset(
    {
        "居民身份证",
        "居民身份证或社会保障卡",
        "居民身份证或医保电子凭证",
        "借款人居民身份证",
        "查询人身份证明",
        # 一件事 新生儿出生: the signed-in applicant is the newborn's parent (guardian).
        "父母双方居民身份证",
        "监护人居民身份证",
        # Decided by 公安局, which keeps the household register itself (户籍) and checks the
        # scan against it.
        "父亲或母亲居民户口簿",
    }
)


def ensure_the_applicant(id_number: str, digest_key: bytes, applicant: str) -> None:
    """Only the applicant themself applies online: the body's ID number is the signed-in one's
    (the portal's X-Applicant-Digest)."""
    if id_number_digest(id_number, digest_key) != applicant:
        raise Forbidden("not_the_applicant", _("Online, an applicant applies only for themself."))


def _identity_verified(body: ApplicationIn, versions: Catalog) -> ApplicationIn:
    item = versions.current.items.get(body.item_code)
    if item is None:
        return body  # judged (and refused) as unknown by the use case
    identity = {m.material_code for m in item.materials if m.name in IDENTITY_DOCUMENTS}
    materials = [
        m.model_copy(update={"original_verified": True})
        if m.material_code in identity and m.sha256 is not None
        else m
        for m in body.materials
    ]
    return body.model_copy(update={"materials": materials})


def _province(request: Request, portal: Principal) -> Principal:
    """The portal reading an application it has checked is the applicant's own."""
    province = request.app.state.settings.province
    return Principal(sub=portal.sub, role="portal", locality=province)


def _not_found(application_no: str) -> NotFound:
    return NotFound(
        "application_not_found",
        _("No application {application_no}.", application_no=application_no),
    )


@router.post("/materials", status_code=201, summary="Upload a scan for the chosen window")
async def upload_material(
    request: Request,
    window_id: WindowQuery,
    file: Annotated[UploadFile, File(description="The scan")],
    db: DatabaseDep,
    blobs: Blobs,
    registry: ScansDep,
    max_bytes: MaxScanBytes,
    portal: Caller,
) -> ScanOut:
    at_window = _at_window(request, portal, window_id)
    try:
        stored = await scans.upload_scan(
            db, blobs, registry, _chunks(file), at_window, max_bytes=max_bytes
        )
    finally:
        await file.close()
    return ScanOut(sha256=stored.sha256, size=stored.size, content_type=stored.content_type)


@router.post(
    "/applications",
    status_code=201,
    summary="Hand in an application online (the one-time notice as at a window)",
)
async def submit_application(
    request: Request,
    window_id: WindowQuery,
    body: ApplicationIn,
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
    at_window = _at_window(request, portal, window_id)
    command = submission.SubmitApplication(
        body=_identity_verified(body, versions),
        clerk=at_window,
        idempotency_key=f"online:{idempotency_key}",
        channel="online",
    )
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
    if answer.status_code == 201:
        await record_online(db, answer.body["application_no"], applicant, window_id)
    return JSONResponse(answer.body, status_code=answer.status_code)


@router.get("/applications", summary="The applicant's own online applications")
async def list_applications(
    applicant: ApplicantDigest, db: DbSession, _portal: Caller
) -> dict[str, Any]:
    return {"applications": await applications_of(db, applicant)}


@router.get("/applications/{application_no}", summary="Progress and timeline of one's own")
async def get_application(
    request: Request,
    application_no: str,
    applicant: ApplicantDigest,
    db: DbSession,
    versions: CatalogDep,
    portal: Caller,
) -> ApplicationOut:
    if await owns(db, application_no, applicant) is None:
        raise _not_found(application_no)
    progress = await queries.get_application(
        db, application_no, _province(request, portal), versions
    )
    return ApplicationOut.model_validate(progress, from_attributes=True)


@router.post(
    "/applications/{application_no}/supplements",
    status_code=201,
    summary="Hand in requested (补正) or deferred (容缺) materials online",
    response_model=SupplementOut,
)
async def hand_in_supplement(
    request: Request,
    application_no: str,
    body: SupplementIn,
    applicant: ApplicantDigest,
    db: DbSession,
    outbox: OutboxDep,
    versions: CatalogDep,
    rules: RulesDep,
    registry: ScansDep,
    portal: Caller,
) -> SupplementOut | JSONResponse:
    window_id = await owns(db, application_no, applicant)
    if window_id is None:
        raise _not_found(application_no)
    command = supplements.HandInSupplement(
        application_no, body, _at_window(request, portal, window_id)
    )
    outcome = await supplements.hand_in_supplement(
        db, command, outbox=outbox, catalog=versions, rules=rules, scans=registry
    )
    if isinstance(outcome, OneTimeNotice):
        return JSONResponse(outcome.body, status_code=outcome.status_code)
    return SupplementOut.model_validate(outcome, from_attributes=True)


@router.post(
    "/applications/{application_no}/evaluation",
    status_code=201,
    summary="The applicant's rating of their finished application (好差评), once",
)
async def evaluate(
    request: Request,
    application_no: str,
    body: EvaluationIn,
    applicant: ApplicantDigest,
    db: DbSession,
    outbox: OutboxDep,
    portal: Caller,
) -> EvaluationOut:
    if await owns(db, application_no, applicant) is None:
        raise _not_found(application_no)
    command = evaluations.Evaluate(
        application_no, body.score, body.comment, _province(request, portal)
    )
    rated = await evaluations.evaluate(db, outbox, command)
    return EvaluationOut.model_validate(rated, from_attributes=True)
