"""Delivery's HTTP API for windows (API.md): the print queue and hand-over."""

from __future__ import annotations

import hmac
from datetime import UTC, datetime

from fastapi import APIRouter
from pydantic import BaseModel, Field
from sqlalchemy import select

from services.delivery.db import PrintJobRow
from shared.auth import WindowClerk
from shared.errors import ApiError
from shared.identity import id_number_digest
from shared.messaging import events, topics
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
    status: str
    queued_at: datetime
    delivered_at: datetime | None


@router.get("/print-queue", tags=["print queue"], summary="Certificates waiting at my window")
async def print_queue(db: DbSession, clerk: WindowClerk) -> dict[str, list[PrintJobOut]]:
    rows = await db.scalars(
        select(PrintJobRow)
        .where(PrintJobRow.window_id == clerk.window_id, PrintJobRow.status == "waiting")
        .order_by(PrintJobRow.queued_at)
    )
    return {"items": [PrintJobOut.model_validate(row, from_attributes=True) for row in rows]}


class HandoverIn(BaseModel):
    recipient_id_number: str = Field(min_length=1, max_length=32)


class HandoverOut(BaseModel):
    application_no: str
    certificate_no: str
    status: str
    delivered_at: datetime


@router.post("/deliveries/{application_no}/handover", tags=["hand-over"])
async def hand_over(
    application_no: str, body: HandoverIn, db: DbSession, runtime: Runtime, clerk: WindowClerk
) -> HandoverOut:
    job = await db.scalar(
        select(PrintJobRow).where(PrintJobRow.application_no == application_no).with_for_update()
    )
    if job is None or job.window_id != clerk.window_id:
        raise ApiError(
            404, "not_in_print_queue", f"{application_no} is not waiting at your window."
        )
    if job.status == "delivered":
        raise ApiError(409, "already_delivered", "The certificate was already handed over.")
    key = runtime.settings.pii_digest_key.get_secret_value().encode()
    if not hmac.compare_digest(
        job.holder_id_digest, id_number_digest(body.recipient_id_number, key)
    ):
        raise ApiError(409, "recipient_mismatch", "The ID number does not match the applicant.")

    now = datetime.now(UTC)
    job.status, job.delivered_at, job.delivered_by = "delivered", now, clerk.sub
    with runtime.telemetry.journey_span(
        "certificate hand-over",
        job.traceparent,
        attributes={"tongban.application_no": application_no, "tongban.window_id": job.window_id},
    ):
        await runtime.outbox.add(
            db,
            events.CertificateDelivered(
                application_no=application_no,
                certificate_no=job.certificate_no,
                locality=job.locality,
                window_id=job.window_id,
                delivered_at=now,
                channel="window",
            ),
            topic=topics.DELIVERY_EVENTS,
        )
    return HandoverOut(
        application_no=application_no,
        certificate_no=job.certificate_no,
        status="delivered",
        delivered_at=now,
    )
