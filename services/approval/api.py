"""Approval's HTTP API for approvers of the competent locality (API.md)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from sqlalchemy import select

from services.approval.db import CaseRow, certificate_sequence
from services.approval.domain import Clock, certificate_number, served_pattern, serves
from shared.auth import Approver, Principal
from shared.errors import ApiError
from shared.identity import id_number_digest, mask_name
from shared.messaging import events, topics
from shared.webapp import DbSession, Runtime
from shared.workdays import today_in_china

router = APIRouter(prefix="/v1")


class CaseOut(BaseModel):
    application_no: str
    locality: str
    department: str
    item_code: str
    item_name: str
    status: str
    accepted_on: date
    deadline: date
    warning: bool
    overdue: bool
    claimed_by: str | None
    decision: str | None
    reason: str | None
    decided_at: datetime | None
    certificate_no: str | None


class CaseDetailOut(CaseOut):
    application: dict[str, Any]


def _case_out(row: CaseRow, *, detail: bool = False) -> CaseOut:
    today = today_in_china()
    clock = Clock(row.accepted_on, row.working_days)
    open_ = row.status == "in_review"
    fields = dict(
        application_no=row.application_no,
        locality=row.locality,
        department=row.department,
        item_code=row.item_code,
        item_name=row.item_name,
        status=row.status,
        accepted_on=row.accepted_on,
        deadline=row.deadline,
        warning=open_ and clock.warning(today),
        overdue=open_ and clock.overdue(today),
        claimed_by=row.claimed_by,
        decision=row.decision,
        reason=row.reason,
        decided_at=row.decided_at,
        certificate_no=row.certificate_no,
    )
    if detail:
        return CaseDetailOut(**fields, application=row.application)
    return CaseOut(**fields)


async def _case_for(
    db: DbSession, application_no: str, approver: Principal, *, lock: bool = False
) -> CaseRow:
    query = select(CaseRow).where(CaseRow.application_no == application_no)
    row = await db.scalar(query.with_for_update() if lock else query)
    if row is None or not serves(approver.locality, row.locality):
        raise ApiError(404, "case_not_found", f"No case {application_no} in your locality.")
    return row


@router.get("/cases", tags=["cases"], summary="Cases of the caller's locality")
async def list_cases(
    db: DbSession,
    approver: Approver,
    status: Annotated[Literal["in_review", "approved", "rejected"] | None, Query()] = None,
    overdue: Annotated[bool | None, Query()] = None,
) -> dict[str, list[CaseOut]]:
    query = (
        select(CaseRow)
        .where(CaseRow.locality.like(served_pattern(approver.locality)))
        .order_by(CaseRow.deadline, CaseRow.application_no)
    )
    if status:
        query = query.where(CaseRow.status == status)
    if overdue is not None:
        late = (CaseRow.status == "in_review") & (CaseRow.deadline < today_in_china())
        query = query.where(late if overdue else ~late)
    return {"cases": [_case_out(row) for row in await db.scalars(query)]}


@router.get("/cases/{application_no}", tags=["cases"])
async def get_case(application_no: str, db: DbSession, approver: Approver) -> CaseDetailOut:
    out = _case_out(await _case_for(db, application_no, approver), detail=True)
    assert isinstance(out, CaseDetailOut)
    return out


@router.post("/cases/{application_no}/claim", tags=["cases"], summary="Hold the case for review")
async def claim_case(application_no: str, db: DbSession, approver: Approver) -> CaseOut:
    row = await _case_for(db, application_no, approver, lock=True)
    if row.status != "in_review":
        raise ApiError(409, "case_closed", f"The case is already {row.status}.")
    if row.claimed_by not in (None, approver.sub):
        raise ApiError(
            409, "case_claimed", "Another approver holds this case.", {"claimed_by": row.claimed_by}
        )
    row.claimed_by = approver.sub
    row.claimed_at = datetime.now(UTC)
    return _case_out(row)


class DecisionIn(BaseModel):
    # request_supplement (补正) needs supplements at intake and a paused clock: a later issue.
    decision: Literal["approve", "reject"]
    reason: str = Field("", max_length=2000)


@router.post("/cases/{application_no}/decision", tags=["cases"], summary="Approve or reject")
async def decide(
    application_no: str, body: DecisionIn, db: DbSession, runtime: Runtime, approver: Approver
) -> CaseOut:
    row = await _case_for(db, application_no, approver, lock=True)
    if row.status != "in_review":
        raise ApiError(409, "case_closed", f"The case is already {row.status}.")
    if row.claimed_by != approver.sub:
        raise ApiError(409, "not_claimed", "Claim the case before deciding it.")
    if body.decision == "reject" and not body.reason.strip():
        raise ApiError(
            422, "reason_required", "A rejection must give its reason.", [{"field": "reason"}]
        )

    now = datetime.now(UTC)
    routed = events.ApplicationRouted.model_validate(row.application)
    common = dict(
        application_no=row.application_no,
        locality=row.locality,
        item_code=row.item_code,
        decided_at=now,
        reason=body.reason or None,
        receiving_locality=routed.receiving_locality,
        window_id=routed.window_id,
        holder_name_masked=mask_name(routed.applicant.name),
        holder_id_digest=id_number_digest(
            routed.applicant.id_number, runtime.settings.pii_digest_key.get_secret_value().encode()
        ),
        delivery=routed.delivery,
    )
    with runtime.telemetry.journey_span(
        f"case {body.decision}",
        row.traceparent,
        attributes={"tongban.application_no": row.application_no, "tongban.locality": row.locality},
    ):
        decided: events.EventPayload
        if body.decision == "approve":
            sequence = int(await db.scalar(certificate_sequence.next_value()) or 0)
            row.certificate_no = certificate_number(row.locality, now.year, sequence)
            row.status = "approved"
            decided = events.ApplicationApproved(
                **common, certificate_no=row.certificate_no, item_name=row.item_name
            )
        else:
            row.status = "rejected"
            decided = events.ApplicationRejected(**common)
        row.decision, row.reason = body.decision, body.reason or None
        row.decided_by, row.decided_at = approver.sub, now
        await runtime.outbox.add(db, decided, topic=topics.APPROVAL_EVENTS)
    return _case_out(row)
