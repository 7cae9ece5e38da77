"""The consultation service's REST API (bearer tokens, shared.authz.POLICY["consultation"]):
open a consultation, list and read them, end one, record an original verified by video, and
play a call's recording back (the competent locality's reviewers)."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from services.consultation import agreements
from services.consultation.schemas import (
    ConsultationList,
    ConsultationOut,
    OpenIn,
    RecordingOut,
    VerificationIn,
    VerificationOut,
)
from services.consultation.usecases import consultations
from shared.authz import Caller
from shared.blobstore import BlobNotFound
from shared.errors import NotFound
from shared.i18n import _
from shared.webapp import DbSession, Runtime

router = APIRouter(prefix="/v1", tags=["consultations"])


def signalling_path(consultation_id: str) -> str:
    return f"/v1/consultations/{consultation_id}/signal"


class Shown(Protocol):
    """What a consultation's answer is made from (the use cases' record of it)."""

    consultation_id: str
    application_no: str | None
    item_code: str
    draft_ref: str | None
    topic: str
    locality: str
    window_id: str
    opened_by: str
    opened_at: datetime
    state: str
    call_started_at: datetime | None
    ended_at: datetime | None


def out(row: Shown) -> ConsultationOut:
    times: dict[str, datetime | None] = {
        "opened_at": row.opened_at,
        "call_started_at": row.call_started_at,
        "ended_at": row.ended_at,
    }
    return ConsultationOut(
        consultation_id=row.consultation_id,
        application_no=row.application_no,
        item_code=row.item_code,
        draft_ref=row.draft_ref,
        topic=row.topic,
        locality=row.locality,
        window_id=row.window_id,
        opened_by=row.opened_by,
        state=row.state,
        signalling=signalling_path(row.consultation_id),
        **times,
    )


async def detailed(db: DbSession, row: Shown) -> ConsultationOut:
    shown = out(row)
    shown.verifications = [
        VerificationOut(
            material_code=v.material_code,
            note=v.note,
            verified_by=v.verified_by,
            verified_at=v.verified_at,
        )
        for v in await consultations.verifications(db, row.consultation_id)
    ]
    recording = await consultations.recording_of(db, row.consultation_id)
    if recording is not None:
        shown.recording = RecordingOut(
            sm3=recording.sm3,
            blob_sha256=recording.blob_sha256,
            size_bytes=recording.size_bytes,
            duration_seconds=recording.duration_seconds,
            recorded_at=recording.recorded_at,
            retained_until=recording.retained_until,
            removed=recording.removed_at is not None,
        )
    return shown


@router.post("/consultations", status_code=201, summary="Open a video consultation (视频会商)")
async def open_consultation(
    body: OpenIn, db: DbSession, runtime: Runtime, clerk: Caller
) -> ConsultationOut:
    """A window clerk asks the competent locality (`locality`) for a video consultation; its
    reviewers may then answer the call (WS `signalling`)."""
    opening = consultations.Opening(**body.model_dump())
    return out(await consultations.open_consultation(db, runtime.outbox, clerk, opening))


@router.get("/consultations", summary="The window's or the locality's consultations")
async def list_consultations(db: DbSession, caller: Caller) -> ConsultationList:
    rows = await consultations.listed(db, caller)
    return ConsultationList(consultations=[out(row) for row in rows])


@router.get("/consultations/{consultation_id}", summary="One consultation")
async def get_consultation(consultation_id: str, db: DbSession, caller: Caller) -> ConsultationOut:
    """Another window's or another locality's consultation answers 404."""
    return await detailed(db, await consultations.visible(db, caller, consultation_id))


@router.post("/consultations/{consultation_id}/end", summary="End the call")
async def end_consultation(
    consultation_id: str, request: Request, db: DbSession, runtime: Runtime, caller: Caller
) -> ConsultationOut:
    """Either party ends the call; the sockets still open are told (`ended`) and closed."""
    ended = out(await consultations.end(db, runtime.outbox, caller, consultation_id))
    await request.app.state.calls.hang_up(consultation_id)
    return ended


@router.post(
    "/consultations/{consultation_id}/verifications",
    status_code=201,
    summary="Record an original verified by video (原件核验)",
)
async def verify_material(
    consultation_id: str,
    body: VerificationIn,
    request: Request,
    db: DbSession,
    runtime: Runtime,
    reviewer: Caller,
) -> VerificationOut:
    """The competent locality's reviewer saw the original in the call; a window of another
    locality needs a trust agreement granting verify_original (asked of routing)."""
    row = await consultations.visible(db, reviewer, consultation_id)
    token = request.headers.get("authorization", "")[7:]
    await agreements.check_verify_right(
        runtime.settings.routing_url, token, row.locality, row.window_locality, row.item_code
    )
    verification = await consultations.verify_material(
        db, runtime.outbox, reviewer, consultation_id, body.material_code, body.note
    )
    return VerificationOut(
        material_code=verification.material_code,
        note=verification.note,
        verified_by=verification.verified_by,
        verified_at=verification.verified_at,
    )


@router.get(
    "/consultations/{consultation_id}/recording",
    summary="Play the call's recording back (WebM)",
    response_class=StreamingResponse,
)
async def play_recording(
    consultation_id: str, db: DbSession, runtime: Runtime, reviewer: Caller
) -> StreamingResponse:
    await consultations.visible(db, reviewer, consultation_id)
    recording = await consultations.recording_of(db, consultation_id)
    if recording is None or recording.removed_at is not None:
        raise NotFound("recording_not_found", _("This call has no recording (any more)."))
    try:
        blob = await runtime.blobs.open(recording.blob_sha256)
    except BlobNotFound as error:
        raise NotFound(
            "recording_not_found", _("This call has no recording (any more).")
        ) from error
    return StreamingResponse(
        blob.chunks,
        media_type="video/webm",
        headers={"Content-Length": str(blob.size), "Cache-Control": "private, no-store"},
    )
