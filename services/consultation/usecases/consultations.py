"""What a consultation does, each step in one transaction with the event announcing it
(outbox): opened, joined, left, ended, a material verified by video, recorded."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.consultation import domain
from services.consultation.db import (
    ConsultationRow,
    PresenceRow,
    RecordingRow,
    VerificationRow,
)
from services.consultation.domain import Consultation, Side, State
from shared import clock
from shared.auth import Principal
from shared.errors import Conflict, NotFound
from shared.i18n import _
from shared.messaging import events
from shared.messaging.outbox import Outbox


@dataclass(frozen=True)
class Opening:
    item_code: str
    locality: str
    topic: str
    application_no: str | None = None
    draft_ref: str | None = None


def as_domain(row: ConsultationRow) -> Consultation:
    return Consultation(
        row.consultation_id, row.locality, row.window_id, row.window_locality, State(row.state)
    )


def _common(row: ConsultationRow) -> dict[str, object]:
    return {
        "consultation_id": row.consultation_id,
        "application_no": row.application_no,
        "item_code": row.item_code,
        "locality": row.locality,
        "window_id": row.window_id,
    }


async def open_consultation(
    session: AsyncSession, outbox: Outbox, clerk: Principal, opening: Opening
) -> ConsultationRow:
    assert clerk.window_id is not None  # the route's rule is own_window
    now = clock.now()
    row = ConsultationRow(
        consultation_id=f"VC{uuid.uuid4().hex[:24].upper()}",
        application_no=opening.application_no,
        item_code=opening.item_code,
        draft_ref=opening.draft_ref,
        topic=opening.topic,
        locality=opening.locality,
        window_id=clerk.window_id,
        window_locality=clerk.locality,
        opened_by=clerk.sub,
        opened_at=now,
        state=State.REQUESTED,
    )
    session.add(row)
    await outbox.add(
        session,
        events.ConsultationOpened(
            **_common(row),
            opened_by=domain.party(clerk),
            opened_at=now,
            topic=opening.topic,
        ),
    )
    return row


async def visible(
    session: AsyncSession, principal: Principal, consultation_id: str
) -> ConsultationRow:
    """The consultation, if `principal` may see it; 404 otherwise (as if it did not exist)."""
    row = await session.get(ConsultationRow, consultation_id)
    if row is None or not domain.may_see(principal, as_domain(row)):
        raise NotFound(
            "consultation_not_found",
            _("No consultation {consultation_id}.", consultation_id=consultation_id),
        )
    return row


async def listed(
    session: AsyncSession, principal: Principal, limit: int = 50
) -> list[ConsultationRow]:
    """The window's consultations (a clerk), or the locality's (a reviewer), newest first."""
    query = select(ConsultationRow)
    if principal.role == "window_clerk":
        query = query.where(ConsultationRow.window_id == principal.window_id)
    else:
        query = query.where(ConsultationRow.locality == principal.locality)
    rows = await session.scalars(query.order_by(ConsultationRow.opened_at.desc()).limit(limit))
    return list(rows)


async def join(
    session: AsyncSession,
    outbox: Outbox,
    principal: Principal,
    consultation_id: str,
    occupied: Collection[str] = (),
) -> tuple[ConsultationRow, Side]:
    """The caller joins the call (their socket is admitted): Forbidden if not a party,
    Conflict once it ended or while their side is `occupied` (a second clerk, a second
    reviewer). Recorded, and announced for the audit ledger."""
    row = await session.get(ConsultationRow, consultation_id, with_for_update=True)
    if row is None:
        raise NotFound(
            "consultation_not_found",
            _("No consultation {consultation_id}.", consultation_id=consultation_id),
        )
    side = domain.check_side(principal, as_domain(row))
    if side in occupied and row.state != State.ENDED:
        raise Conflict("side_taken", _("Someone is already in this call on that side."))
    state = domain.after_join(State(row.state), side)
    now = clock.now()
    if state is State.IN_CALL and row.call_started_at is None:
        row.call_started_at = now
        row.reviewer = principal.sub
    row.state = state
    await _presence(session, outbox, row, principal, side, "joined", None, now)
    return row, side


async def leave(
    session: AsyncSession,
    outbox: Outbox,
    principal: Principal,
    consultation_id: str,
    side: Side,
    reason: str,
) -> ConsultationRow:
    """The caller left (hung up, closed, or was closed for a bad message); the call ends when
    either party leaves it once both were in, or when the clerk gives up ringing."""
    row = await session.get(ConsultationRow, consultation_id, with_for_update=True)
    assert row is not None
    now = clock.now()
    await _presence(session, outbox, row, principal, side, "left", reason, now)
    if row.state != State.ENDED and domain.after_leave(State(row.state), side) is State.ENDED:
        await _end(session, outbox, row, principal.sub, now)
    return row


async def end(
    session: AsyncSession, outbox: Outbox, principal: Principal, consultation_id: str
) -> ConsultationRow:
    row = await visible(session, principal, consultation_id)
    if row.state != State.ENDED:
        await _end(session, outbox, row, principal.sub, clock.now())
    return row


async def _end(
    session: AsyncSession, outbox: Outbox, row: ConsultationRow, by: str, now: datetime
) -> None:
    started = row.call_started_at
    row.state = State.ENDED
    row.ended_at = now
    seconds = int((now - started).total_seconds()) if started else 0
    await outbox.add(
        session,
        events.ConsultationEnded(
            **_common(row),
            ended_by=by,
            ended_at=now,
            in_call_seconds=max(seconds, 0),
        ),
    )


async def _presence(
    session: AsyncSession,
    outbox: Outbox,
    row: ConsultationRow,
    principal: Principal,
    side: Side,
    action: str,
    reason: str | None,
    now: datetime,
) -> None:
    session.add(
        PresenceRow(
            consultation_id=row.consultation_id,
            action=action,
            side=side,
            sub=principal.sub,
            role=principal.role,
            locality=principal.locality,
            window_id=principal.window_id,
            reason=reason,
            at=now,
        )
    )
    who = domain.party(principal)
    if action == "joined":
        await outbox.add(
            session,
            events.ConsultationJoined(**_common(row), party=who, at=now),
        )
    else:
        await outbox.add(
            session,
            events.ConsultationLeft(
                **_common(row),
                party=who,
                at=now,
                reason=reason or "left",
            ),
        )


async def verify_material(
    session: AsyncSession,
    outbox: Outbox,
    reviewer: Principal,
    consultation_id: str,
    material_code: str,
    note: str,
) -> VerificationRow:
    """原件核验 by video: the competent locality's reviewer saw the original in the call."""
    row = await visible(session, reviewer, consultation_id)
    domain.check_may_verify(reviewer, as_domain(row), row.call_started_at is not None)
    now = clock.now()
    verification = VerificationRow(
        consultation_id=row.consultation_id,
        material_code=material_code,
        note=note,
        verified_by=reviewer.sub,
        verified_at=now,
    )
    session.add(verification)
    await outbox.add(
        session,
        events.MaterialVerifiedByVideo(
            **_common(row),
            material_code=material_code,
            note=note,
            verified_by=domain.party(reviewer),
            verified_at=now,
        ),
    )
    return verification


async def verifications(session: AsyncSession, consultation_id: str) -> list[VerificationRow]:
    rows = await session.scalars(
        select(VerificationRow)
        .where(VerificationRow.consultation_id == consultation_id)
        .order_by(VerificationRow.verified_at)
    )
    return list(rows)


async def presence(session: AsyncSession, consultation_id: str) -> list[PresenceRow]:
    rows = await session.scalars(
        select(PresenceRow)
        .where(PresenceRow.consultation_id == consultation_id)
        .order_by(PresenceRow.presence_id)
    )
    return list(rows)


async def record(
    session: AsyncSession,
    outbox: Outbox,
    consultation_id: str,
    recording: RecordingRow,
    parties: list[events.ConsultationParty],
) -> None:
    """全过程记录: the stored recording and its SM3 digest, announced for the audit ledger."""
    row = await session.get(ConsultationRow, consultation_id)
    assert row is not None
    session.add(recording)
    await outbox.add(
        session,
        events.ConsultationRecorded(
            **_common(row),
            blob=recording.blob_sha256,
            sm3=recording.sm3,
            size_bytes=recording.size_bytes,
            duration_seconds=recording.duration_seconds,
            parties=tuple(parties),
            recorded_at=recording.recorded_at,
            retained_until=recording.retained_until,
        ),
    )


async def recording_of(session: AsyncSession, consultation_id: str) -> RecordingRow | None:
    return await session.get(RecordingRow, consultation_id)


async def expired_recordings(session: AsyncSession, today: date) -> list[RecordingRow]:
    rows = await session.scalars(
        select(RecordingRow).where(
            RecordingRow.retained_until < today,
            or_(RecordingRow.removed_at.is_(None)),
        )
    )
    return list(rows)
