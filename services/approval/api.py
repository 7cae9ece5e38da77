"""Approval's HTTP API for approvers of the competent locality (API.md). Thin: parse, call
the use case (service.py), shape the answer."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict

from services.approval import service
from services.approval.db import CaseRow
from services.approval.domain import DeadlineClock, holder
from shared import clock
from shared.auth import Approver
from shared.bounds import Reason
from shared.vocabulary import CaseStatus, Decision
from shared.webapp import DbSession, Runtime

router = APIRouter(prefix="/v1")


class CaseOut(BaseModel):
    application_no: str
    locality: str
    department: str
    item_code: str
    item_name: str
    status: CaseStatus
    accepted_on: date
    # What the applicant was promised (承诺时限) and what the law allows (法定时限).
    promised_date: date
    deadline: date
    warning: bool
    overdue: bool
    warned_at: datetime | None
    overdue_at: datetime | None
    claimed_by: str | None
    decision: Decision | None
    reason: str | None
    decided_at: datetime | None
    certificate_no: str | None


class CaseDetailOut(CaseOut):
    application: dict[str, Any]


def _case_out(row: CaseRow, *, lapse: timedelta, detail: bool = False) -> CaseOut:
    now = clock.now()
    today = now.date()
    deadline_clock = DeadlineClock(row.accepted_on, row.working_days)
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
        decision=row.decision,
        reason=row.reason,
        decided_at=row.decided_at,
        certificate_no=row.certificate_no,
    )
    if detail:
        return CaseDetailOut(**fields, application=row.application)
    return CaseOut(**fields)


@router.get("/cases", tags=["cases"], summary="Cases of the caller's locality")
async def list_cases(
    db: DbSession,
    runtime: Runtime,
    approver: Approver,
    status: Annotated[CaseStatus | None, Query()] = None,
    overdue: Annotated[bool | None, Query()] = None,
) -> dict[str, list[CaseOut]]:
    rows = await service.list_cases(db, approver, status=status, overdue=overdue)
    return {"cases": [_case_out(row, lapse=_lapse(runtime)) for row in rows]}


@router.get("/cases/{application_no}", tags=["cases"])
async def get_case(
    application_no: str, db: DbSession, runtime: Runtime, approver: Approver
) -> CaseDetailOut:
    row = await service.case_for(db, application_no, approver)
    out = _case_out(row, lapse=_lapse(runtime), detail=True)
    assert isinstance(out, CaseDetailOut)
    return out


def _lapse(runtime: Runtime) -> timedelta:
    return timedelta(minutes=runtime.settings.claim_lapse_minutes)


@router.post("/cases/{application_no}/claim", tags=["cases"], summary="Hold the case for review")
async def claim_case(
    application_no: str, db: DbSession, runtime: Runtime, approver: Approver
) -> CaseOut:
    row = await service.claim_case(db, application_no, approver, lapse=_lapse(runtime))
    return _case_out(row, lapse=_lapse(runtime))


@router.post("/cases/{application_no}/release", tags=["cases"], summary="Give the case back")
async def release_case(
    application_no: str, db: DbSession, runtime: Runtime, approver: Approver
) -> CaseOut:
    row = await service.release_case(db, application_no, approver, lapse=_lapse(runtime))
    return _case_out(row, lapse=_lapse(runtime))


class DecisionIn(BaseModel):
    # request_supplement (补正) needs supplements at intake and a paused clock: a later issue.
    model_config = ConfigDict(extra="forbid")

    decision: Decision
    reason: Reason = ""


@router.post("/cases/{application_no}/decision", tags=["cases"], summary="Approve or reject")
async def decide(
    application_no: str, body: DecisionIn, db: DbSession, runtime: Runtime, approver: Approver
) -> CaseOut:
    command = service.Decide(application_no, body.decision, body.reason, approver)
    row = await service.decide(
        db,
        runtime.outbox,
        command,
        digest_key=runtime.settings.pii_digest_key.get_secret_value().encode(),
        telemetry=runtime.telemetry,
        lapse=_lapse(runtime),
    )
    return _case_out(row, lapse=_lapse(runtime))
