"""Delivery's HTTP API for windows (API.md): the print queue and hand-over. Thin: parse, call
the use case (service.py), shape the answer."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, ValidationError

from services.delivery import dispatch, service
from shared.authz import Caller
from shared.bounds import IdNumber
from shared.errors import ApiError, Conflict, Invalid, NotFound, problem
from shared.pagination import MAX_PAGE, Cursor, Limit
from shared.vocabulary import PostalStatus, PrintJobStatus
from shared.webapp import DbSession, Runtime

router = APIRouter(prefix="/v1")


class PrintJobOut(BaseModel):
    certificate_no: str
    application_no: str
    window_id: str
    item_code: str
    item_name: str
    issuer_locality: str
    holder_name_masked: str
    # 委托代办: the agent who may collect instead of the applicant, masked.
    agent_name_masked: str | None
    status: PrintJobStatus
    queued_at: datetime
    delivered_at: datetime | None
    collected_by: str | None


class PrintQueuePage(BaseModel):
    items: list[PrintJobOut]
    next_cursor: str | None


@router.get("/print-queue", tags=["print queue"], summary="Certificates waiting at my window")
async def print_queue(
    db: DbSession, clerk: Caller, limit: Limit = MAX_PAGE, cursor: Cursor = None
) -> PrintQueuePage:
    rows, next_cursor = await service.print_queue(db, clerk, limit=limit, cursor=cursor)
    return PrintQueuePage(
        items=[PrintJobOut.model_validate(row, from_attributes=True) for row in rows],
        next_cursor=next_cursor,
    )


class HandoverIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    recipient_id_number: IdNumber


class HandoverOut(BaseModel):
    application_no: str
    certificate_no: str
    status: PrintJobStatus
    delivered_at: datetime
    # The applicant, or the agent recorded at acceptance (委托代办).
    collected_by: str | None


@router.post("/deliveries/{application_no}/handover", tags=["hand-over"])
async def hand_over(
    application_no: str, body: HandoverIn, db: DbSession, runtime: Runtime, clerk: Caller
) -> HandoverOut:
    settings = runtime.settings
    assert clerk.window_id is not None  # own_window routes have one (shared.authz)
    await service.check_handover_attempts(
        db,
        clerk.window_id,
        max_failures=settings.handover_max_failures,
        minutes=settings.handover_failure_window_minutes,
    )
    command = service.HandOver(application_no, body.recipient_id_number, clerk)
    try:
        job = await service.hand_over(
            db,
            runtime.outbox,
            command,
            digest_key=settings.pii_digest_key.get_secret_value().encode(),
            telemetry=runtime.telemetry,
        )
    except (NotFound, Conflict) as refused:
        if refused.code in ("recipient_mismatch", "not_in_print_queue"):
            await service.record_failed_handover(runtime.db, command, refused)
        raise
    assert job.delivered_at is not None
    return HandoverOut(
        application_no=job.application_no,
        certificate_no=job.certificate_no,
        status=job.status,
        delivered_at=job.delivered_at,
        collected_by=job.collected_by,
    )


# -- 邮政寄递: the carrier's tracking webhook (services/delivery/dispatch.py) --------------------


class CarrierEventOut(BaseModel):
    tracking_no: str
    event: str
    status: PostalStatus  # the dispatch's status after this report
    # True: this report was taken before (a replay); nothing changed.
    duplicate: bool


_CARRIER_EVENT_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": dispatch.CarrierReport.model_json_schema()}},
    },
    "parameters": [
        {
            "name": dispatch.SIGNATURE_HEADER,
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
    request: Request, db: DbSession, runtime: Runtime, _: Caller
) -> CarrierEventOut:
    """The body is read raw and its HMAC checked before anything else: an unsigned or
    wrongly signed report is refused (401 `bad_signature`) and changes nothing."""
    raw = await request.body()
    secret = runtime.settings.carrier_webhook_secret.get_secret_value()
    if not dispatch.signature_matches(raw, request.headers.get(dispatch.SIGNATURE_HEADER), secret):
        raise ApiError(
            401, "bad_signature", f"{dispatch.SIGNATURE_HEADER} is missing or does not match."
        )
    try:
        report = dispatch.CarrierReport.model_validate_json(raw)
    except ValidationError as exc:
        raise Invalid(
            "invalid_request",
            "The report has invalid fields.",
            [
                problem(e["type"], e["msg"], field=".".join(str(p) for p in e["loc"]) or "body")
                for e in exc.errors()
            ],
        ) from None
    row, new = await dispatch.record_carrier_event(db, runtime.outbox, report, runtime.telemetry)
    return CarrierEventOut(
        tracking_no=report.tracking_no,
        event=report.event,
        status=PostalStatus(row.status),
        duplicate=not new,
    )
