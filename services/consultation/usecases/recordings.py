"""全过程记录: a call's recorder, from the first offer to it until the call ends; then the
recording goes into the blob store, its SM3 digest, duration and parties into the consultation's
record and, announced as gov.tongban.consultation.recorded.v1, into the audit ledger. Removed
once CONSULTATION_RECORDING_RETENTION_DAYS have passed (the record and its digest stay)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.consultation import domain
from services.consultation.db import PresenceRow, RecordingRow
from services.consultation.recording import CallRecorder
from services.consultation.usecases import consultations
from shared import clock
from shared.auth import Principal
from shared.blobstore import MEDIA_SIGNATURES
from shared.messaging.events import ConsultationParty
from shared.runtime import ServiceRuntime

log = logging.getLogger(__name__)
MAX_RECORDING_BYTES = 2 * 1024**3


class Recordings:
    def __init__(self, runtime: ServiceRuntime, factory: Callable[[], CallRecorder] | None) -> None:
        self.runtime = runtime
        self.factory = factory
        self.recorders: dict[str, CallRecorder] = {}
        self.finishing: set[asyncio.Task[None]] = set()

    def recorder_for(self, consultation_id: str) -> CallRecorder | None:
        if self.factory is None:
            return None
        if consultation_id not in self.recorders:
            self.recorders[consultation_id] = self.factory()
        return self.recorders[consultation_id]

    def finish(self, consultation_id: str) -> None:
        """In the background: the sockets close at once, the file is stored meanwhile."""
        recorder = self.recorders.pop(consultation_id, None)
        if recorder is None:
            return
        task = asyncio.ensure_future(self._store(consultation_id, recorder))
        self.finishing.add(task)
        task.add_done_callback(self.finishing.discard)

    async def _store(self, consultation_id: str, recorder: CallRecorder) -> None:
        try:
            recording = await recorder.finish()
            if recording is None:
                log.warning("consultation %s: nothing was recorded", consultation_id)
                return

            async def chunks() -> AsyncIterator[bytes]:
                yield recording.data

            stored = await self.runtime.blobs.put_verified(
                chunks(), max_bytes=MAX_RECORDING_BYTES, signatures=MEDIA_SIGNATURES
            )
            now = clock.now()
            retention = self.runtime.settings.consultation_recording_retention_days
            async with self.runtime.db.transaction() as session:
                parties = await _parties(session, consultation_id)
                row = RecordingRow(
                    consultation_id=consultation_id,
                    blob_sha256=stored.sha256,
                    sm3=recording.sm3,
                    size_bytes=stored.size,
                    duration_seconds=recording.duration_seconds,
                    recorded_at=now,
                    retained_until=(now + timedelta(days=retention)).date(),
                )
                await consultations.record(
                    session, self.runtime.outbox, consultation_id, row, parties
                )
        except Exception:
            log.exception("consultation %s: the recording could not be stored", consultation_id)

    async def stop(self) -> None:
        for consultation_id in list(self.recorders):
            self.finish(consultation_id)
        if self.finishing:
            await asyncio.gather(*self.finishing, return_exceptions=True)

    async def prune(self) -> None:
        """Remove recordings past their retention (the blob store keeps no other copy)."""
        async with self.runtime.db.transaction() as session:
            expired = await consultations.expired_recordings(session, clock.now().date())
            for row in expired:
                await self.runtime.blobs.delete(row.blob_sha256)
                row.removed_at = clock.now()


async def _parties(session: AsyncSession, consultation_id: str) -> list[ConsultationParty]:

    rows = await session.scalars(
        select(PresenceRow)
        .where(PresenceRow.consultation_id == consultation_id, PresenceRow.action == "joined")
        .order_by(PresenceRow.presence_id)
    )
    seen: dict[str, ConsultationParty] = {}
    for row in rows:
        principal = Principal(
            sub=row.sub,
            role=row.role,
            locality=row.locality,
            window_id=row.window_id,
        )
        seen.setdefault(row.sub, domain.party(principal))
    return list(seen.values())[:8]
