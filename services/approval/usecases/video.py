"""视频核验 on the case: originals of a case's materials that the competent locality's reviewer
saw in a video consultation (services/consultation), with the call's recording (全过程记录).

The consultation service announces each on tongban.consultation.events; this service keeps
those about an application of a locality it serves, whether or not the case is here yet (the
consultation's topic and routing's requests are read in no order to one another), once each:
the consumer's inbox takes an event once, and a fact's own key (the consultation, the material,
the moment) takes it once even under another event id. A case shows the verifications made by
reviewers who serve it (its own locality, or the city above a county's case) about its item.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.approval.db import VideoRecordingRow, VideoVerificationRow
from services.approval.domain import serves
from shared.db import insert_if_absent
from shared.i18n import _
from shared.messaging import events
from shared.reference.catalog import get_item
from shared.reference.localities import get_locality


async def record_verification(
    session: AsyncSession, verified: events.MaterialVerifiedByVideo, served: Collection[str]
) -> bool:
    """Keep a verification about an application of a served locality; True if kept now. One
    about no application (a consultation before acceptance) or another locality's is not ours."""
    if verified.application_no is None or verified.locality not in served:
        return False
    by = verified.verified_by
    return await insert_if_absent(
        session,
        VideoVerificationRow,
        consultation_id=verified.consultation_id,
        material_code=verified.material_code,
        verified_at=verified.verified_at,
        application_no=verified.application_no,
        locality=verified.locality,
        item_code=verified.item_code,
        window_id=verified.window_id,
        note=verified.note,
        verified_by=by.sub,
        verifier_role=by.role,
        verifier_locality=by.locality,
    )


async def record_recording(
    session: AsyncSession, recorded: events.ConsultationRecorded, served: Collection[str]
) -> bool:
    """Keep where a call about an application of a served locality is recorded, and its SM3
    digest: what a verification made in that call refers to."""
    if recorded.application_no is None or recorded.locality not in served:
        return False
    return await insert_if_absent(
        session,
        VideoRecordingRow,
        consultation_id=recorded.consultation_id,
        application_no=recorded.application_no,
        locality=recorded.locality,
        blob_sha256=recorded.blob,
        sm3=recorded.sm3,
        size_bytes=recorded.size_bytes,
        duration_seconds=recorded.duration_seconds,
        recorded_at=recorded.recorded_at,
        retained_until=recorded.retained_until,
    )


@dataclass(frozen=True)
class Recording:
    """The call's recording: the blob store's name for it (its SHA-256), and its SM3 digest,
    which the audit ledger holds (contracts/video.md)."""

    blob_sha256: str
    sm3: str
    size_bytes: int
    duration_seconds: int
    recorded_at: datetime
    retained_until: date


@dataclass(frozen=True)
class VideoVerification:
    """One original verified by video, as the case shows it: which material, who saw it and
    when, in which consultation, and that consultation's recording once it is stored."""

    material_code: str
    material_name: str | None
    note: str
    verified_by: str
    verifier_role: str
    verifier_locality: str
    verified_at: datetime
    consultation_id: str
    window_id: str
    recording: Recording | None
    # The same in words, in the reader's language.
    summary: str


async def verifications_of(
    session: AsyncSession, application_no: str, locality: str, item_code: str
) -> list[VideoVerification]:
    """The case's originals verified by video, oldest first."""
    rows = (
        await session.scalars(
            select(VideoVerificationRow)
            .where(VideoVerificationRow.application_no == application_no)
            .order_by(VideoVerificationRow.verified_at, VideoVerificationRow.material_code)
        )
    ).all()
    ours = [row for row in rows if serves(row.locality, locality) and row.item_code == item_code]
    calls = {row.consultation_id for row in ours}
    recordings = {
        recording.consultation_id: recording
        for recording in await session.scalars(
            select(VideoRecordingRow).where(VideoRecordingRow.consultation_id.in_(calls))
        )
    }
    item = get_item(item_code)
    shown = []
    for row in ours:
        material = item.material(row.material_code) if item is not None else None
        recording = recordings.get(row.consultation_id)
        shown.append(
            VideoVerification(
                material_code=row.material_code,
                material_name=material.name if material is not None else None,
                note=row.note,
                verified_by=row.verified_by,
                verifier_role=row.verifier_role,
                verifier_locality=row.verifier_locality,
                verified_at=row.verified_at,
                consultation_id=row.consultation_id,
                window_id=row.window_id,
                recording=_recording(recording) if recording is not None else None,
                summary=_(
                    "Original of {material} verified by video by {verified_by} of {locality} "
                    "in video consultation {consultation_id}",
                    material=material.name if material is not None else row.material_code,
                    verified_by=row.verified_by,
                    locality=_place(row.verifier_locality),
                    consultation_id=row.consultation_id,
                ),
            )
        )
    return shown


def _recording(row: VideoRecordingRow) -> Recording:
    return Recording(
        blob_sha256=row.blob_sha256,
        sm3=row.sm3,
        size_bytes=row.size_bytes,
        duration_seconds=row.duration_seconds,
        recorded_at=row.recorded_at,
        retained_until=row.retained_until,
    )


def _place(code: str) -> str:
    """A locality by its name (合肥市), or its code if the table does not know it."""
    locality = get_locality(code)
    return locality.name if locality is not None else code
