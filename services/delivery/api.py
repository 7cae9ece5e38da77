"""Delivery's HTTP API for windows (API.md): the print queue and hand-over, printing sealed
certificates, and their public verification. Thin: parse, call one use case (usecases/), shape
the answer (schemas.py). Collaborators come from deps.py."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from services.delivery import pdf, verification_page
from services.delivery.deps import (
    CarrierWebhookSecret,
    DatabaseDep,
    DigestKey,
    HandoverLimitDep,
    OutboxDep,
    PersonalDep,
    PublicBaseUrl,
    PublicKeysDep,
    TelemetryDep,
    TrustedProxies,
    VerificationLimiterDep,
)
from services.delivery.domain import SIGNATURE_HEADER, signature_matches
from services.delivery.ratelimit import (
    client_address,
)
from services.delivery.schemas import (
    BundleJobOut,
    BundleQueueOut,
    CarrierEventOut,
    CarrierReport,
    HandoverIn,
    HandoverOut,
    PrintJobOut,
    PrintQueuePage,
    VerificationOut,
)
from services.delivery.usecases import (
    bundle_delivery,
    dispatch,
    handover,
    print_jobs,
    printing,
    verification,
)
from shared.authz import Caller
from shared.errors import ApiError, Invalid, NotFound, error_body, validation_problems
from shared.i18n import _
from shared.pagination import MAX_PAGE, Cursor, Limit
from shared.webapp import DbSession

router = APIRouter(prefix="/v1")


@router.get("/print-queue", tags=["print queue"], summary="Certificates waiting at my window")
async def print_queue(
    db: DbSession, clerk: Caller, limit: Limit = MAX_PAGE, cursor: Cursor = None
) -> PrintQueuePage:
    jobs, next_cursor = await print_jobs.print_queue(db, clerk, limit=limit, cursor=cursor)
    return PrintQueuePage(
        items=[PrintJobOut.model_validate(job, from_attributes=True) for job in jobs],
        next_cursor=next_cursor,
    )


@router.post("/deliveries/{application_no}/handover", tags=["hand-over"])
async def hand_over(
    application_no: str,
    body: HandoverIn,
    db: DatabaseDep,
    outbox: OutboxDep,
    telemetry: TelemetryDep,
    digest_key: DigestKey,
    limit: HandoverLimitDep,
    clerk: Caller,
) -> HandoverOut:
    # The use case opens its transaction itself (a refusal is committed before it is raised).
    job = await handover.attempt_handover(
        db,
        outbox,
        handover.HandOver(application_no, body.recipient_id_number, clerk),
        digest_key=digest_key,
        telemetry=telemetry,
        max_failures=limit.max_failures,
        minutes=limit.minutes,
    )
    assert job.delivered_at is not None
    return HandoverOut.model_validate(job, from_attributes=True)


@router.get(
    "/bundle-print-queue",
    tags=["print queue"],
    summary="一件事: bundles whose certificates all wait at my window (one print job each)",
)
async def bundle_print_queue(db: DbSession, clerk: Caller) -> BundleQueueOut:
    jobs = await bundle_delivery.bundle_queue(db, clerk)
    return BundleQueueOut(
        items=[BundleJobOut.model_validate(j, from_attributes=True) for j in jobs]
    )


@router.post(
    "/bundle-deliveries/{bundle_no}/handover",
    tags=["hand-over"],
    summary="一件事: hand every certificate of the bundle over at once",
)
async def hand_over_bundle(
    bundle_no: str,
    body: HandoverIn,
    db: DatabaseDep,
    outbox: OutboxDep,
    digest_key: DigestKey,
    limit: HandoverLimitDep,
    clerk: Caller,
) -> BundleJobOut:
    job = await bundle_delivery.attempt_bundle_handover(
        db,
        outbox,
        bundle_delivery.HandOverBundle(bundle_no, body.recipient_id_number, clerk),
        digest_key=digest_key,
        max_failures=limit.max_failures,
        minutes=limit.minutes,
    )
    return BundleJobOut.model_validate(job, from_attributes=True)


# --- the certificate registry: printing and public verification -----------------------------------


@router.get(
    "/certificates/{certificate_no}.pdf",
    tags=["certificates"],
    summary="The printable certificate (or notice), with its QR code",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}}},
)
async def certificate_pdf(
    certificate_no: str,
    db: DbSession,
    personal: PersonalDep,
    public_key: PublicKeysDep,
    public_base_url: PublicBaseUrl,
    caller: Caller,
) -> Response:
    """An A4 PDF of the sealed document, for a clerk at the application's receiving window or a
    reviewer of the issuing locality (others: 404). Every print is recorded; `X-Tongban-Print`
    is its ordinal (1: the first print, more: a reprint). A certificate's QR code carries its
    verification URL, also in `X-Tongban-Verify-Url`; a rejection notice has none (it is not
    publicly verifiable)."""
    printed = await printing.print_document(
        db,
        caller,
        certificate_no,
        personal=personal,
        public_key=public_key,
        public_base_url=public_base_url,
    )
    # Rendering takes about a second of CPU: off the event loop. Should it fail, the
    # transaction (and so the print's record) rolls back with it.
    content = await run_in_threadpool(pdf.render, printed.document)
    headers = {
        "X-Tongban-Print": str(printed.ordinal),
        "Content-Disposition": f'inline; filename="{certificate_no}.pdf"',
        "Cache-Control": "no-store",
    }
    if printed.document.verify_url is not None:
        headers["X-Tongban-Verify-Url"] = printed.document.verify_url  # what the QR code says
    return Response(content, media_type="application/pdf", headers=headers)


_PAGE = {"text/html": {"schema": {"type": "string"}}}


@router.get(
    "/certificates/{certificate_no}/verify",
    tags=["certificates"],
    summary="Verify a certificate (public)",
    response_model=VerificationOut,
    responses={
        200: {
            "description": "The registry's answer: JSON, or a page for people when Accept "
            "prefers text/html",
            "content": _PAGE,
        },
        404: {
            "description": "No certificate with this number and code (certificate_not_found)",
            "content": _PAGE,
        },
        429: {
            "description": "Too many verifications from this client (rate_limited)",
            "content": _PAGE,
        },
    },
)
async def verify_certificate(
    certificate_no: str,
    request: Request,
    response: Response,
    db: DatabaseDep,
    personal: PersonalDep,
    public_key: PublicKeysDep,
    limiter: VerificationLimiterDep,
    trusted_proxies: TrustedProxies,
    code: Annotated[str | None, Query(max_length=64)] = None,
) -> VerificationOut | Response:
    """What the registry says of a certificate, asked with the verification `code` its QR code
    carries: `valid`, or `valid: false` with the `reason`. The number alone, a wrong code and
    every rejection notice answer 404, as an unknown number does. No token;
    VERIFY_RATE_LIMIT_PER_MINUTE per client (behind TRUSTED_PROXIES, the address they
    forwarded), counted across delivery processes. A browser (Accept prefers text/html) gets
    the same answer as a page in the reader's language (verification_page.py)."""
    page = verification_page.wants_page(request.headers.get("accept"))
    retry_after = await limiter.hit(client_address(request, trusted_proxies))
    if retry_after is not None:
        if page:
            limited = verification_page.limited_page(retry_after)
            refused = verification_page.render(request, limited, 429)
            refused.headers["Retry-After"] = str(retry_after)
            return refused
        return JSONResponse(
            error_body(
                "rate_limited",
                _(
                    "Too many verifications from this address; try again in {seconds} s.",
                    seconds=retry_after,
                ),
                {"retry_after_seconds": retry_after},
            ),
            429,
            headers={"Retry-After": str(retry_after), **verification_page.VARY},
        )
    # The use case opens its transaction itself (the count commits before the checks).
    try:
        result = await verification.verify(
            db, certificate_no, code, personal=personal, public_key=public_key
        )
    except NotFound as missing:
        if page:
            return verification_page.render(request, verification_page.not_found_page(), 404)
        # The JSON 404 varies as the page does: a cache must not give a browser this answer.
        return JSONResponse(
            error_body(missing.code, missing.message, missing.details),
            404,
            headers=verification_page.VARY,
        )
    if page:
        return verification_page.render(request, verification_page.answer_page(result))
    response.headers.update(verification_page.VARY)
    return VerificationOut.model_validate(result, from_attributes=True)


# -- 邮政寄递: the carrier's tracking webhook (usecases/dispatch.py) -----------------------------


_CARRIER_EVENT_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": CarrierReport.model_json_schema()}},
    },
    "parameters": [
        {
            "name": SIGNATURE_HEADER,
            "in": "header",
            "required": True,
            "description": "sha256=<hex HMAC-SHA256 of the raw body with the shared secret>",
            "schema": {"type": "string"},
        }
    ],
}


@router.post(
    "/carrier/events",
    tags=["carrier"],
    summary="A carrier's tracking report (signed webhook)",
    openapi_extra=_CARRIER_EVENT_BODY,
)
async def carrier_event(
    request: Request,
    db: DbSession,
    outbox: OutboxDep,
    telemetry: TelemetryDep,
    secret: CarrierWebhookSecret,
    _carrier: Caller,
) -> CarrierEventOut:
    """The body is read raw and its HMAC checked before anything else: an unsigned or
    wrongly signed report is refused (401 `bad_signature`) and changes nothing."""
    raw = await request.body()
    if not signature_matches(raw, request.headers.get(SIGNATURE_HEADER), secret):
        raise ApiError(
            401,
            "bad_signature",
            _("{header} is missing or does not match.", header=SIGNATURE_HEADER),
        )
    try:
        report = CarrierReport.model_validate_json(raw)
    except ValidationError as exc:
        raise Invalid(
            "invalid_request",
            _("The report has invalid fields."),
            validation_problems([{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]),
        ) from None
    status, new = await dispatch.record_carrier_event(db, outbox, report, telemetry)
    return CarrierEventOut(
        tracking_no=report.tracking_no, event=report.event, status=status, duplicate=not new
    )
