"""Intake's use cases: accept an application at a window, record its progress, answer queries.

Accepting decides from memory (the catalog, and the replica of routing's rules) and writes once:
the application, its first timeline entry, its event (outbox) and the idempotency record go in
ONE statement (data-modifying CTEs, atomic on its own: one round trip), and nothing is read
first. A retry with the same Idempotency-Key finds out at that write (the key's primary key)
and gets the first answer instead.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.dml import Insert

from services.intake import domain
from services.intake.db import (
    ACCEPT,
    ISSUE_NOTICE,
    ApplicationNumbers,
    ApplicationRow,
    CatalogItemRow,
    EvaluationRow,
    IdempotencyKeyRow,
    NoticeRow,
    TimelineEntryRow,
    bound,
)
from services.intake.schemas import (
    ApplicationAcceptedOut,
    ApplicationIn,
    ApplicationOut,
    TimelineEntryOut,
)
from shared import clock
from shared.auth import Principal
from shared.db import Database, insert_if_absent, upsert
from shared.errors import (
    Conflict,
    DomainError,
    Forbidden,
    Invalid,
    NotFound,
    Unavailable,
    error_body,
)
from shared.jurisdiction import JurisdictionError, Resolution, RuleBook
from shared.messaging import events, topics
from shared.messaging.outbox import Outbox
from shared.reference.catalog import CATALOG, CatalogItem
from shared.reference.localities import is_within, within_pattern
from shared.vocabulary import ApplicationStatus, DeliveryMethod, Right
from shared.workdays import add_working_days

# Fields of routing's resolve request, as the fields of the application they come from.
_APPLICATION_FIELDS = {
    "applicant_locality": "applicant.locality",
    "property_locality": "property_locality",
}


@dataclass(frozen=True)
class Intake:
    """What intake's use cases work with, wired once in main.py."""

    db: Database
    outbox: Outbox
    catalog: Mapping[str, CatalogItem]
    rules: RuleBook
    numbers: ApplicationNumbers


@dataclass(frozen=True)
class SubmitApplication:
    """Command: a window clerk hands in an application."""

    body: ApplicationIn
    clerk: Principal
    idempotency_key: str


@dataclass(frozen=True)
class Answer:
    """The HTTP answer to a submission, kept with its Idempotency-Key and replayed on retry."""

    status_code: int
    body: dict[str, Any]


@dataclass(frozen=True)
class _Accept:
    item: CatalogItem
    resolution: Resolution
    deferred: list[str]


@dataclass(frozen=True)
class _Notify:
    item: CatalogItem
    problems: list[domain.Problem]


def request_hash(body: ApplicationIn) -> str:
    canonical = json.dumps(body.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


async def seed_catalog(session: AsyncSession) -> None:
    """The published catalog is the source of truth; refresh our copy on every start."""
    for item in CATALOG:
        await upsert(
            session,
            CatalogItemRow,
            item_code=item.item_code,
            name=item.name,
            domain=item.domain,
            guide=item.model_dump(mode="json"),
            updated_at=clock.now(),
        )


async def load_catalog(session: AsyncSession) -> dict[str, CatalogItem]:
    rows = await session.scalars(select(CatalogItemRow).order_by(CatalogItemRow.item_code))
    return {row.item_code: CatalogItem.model_validate(row.guide) for row in rows}


async def submit_application(command: SubmitApplication, intake: Intake) -> Answer:
    window_id = command.clerk.window_id
    if window_id is None:
        raise Forbidden("window_required", "Only a clerk at a window can hand in applications.")
    fingerprint = request_hash(command.body)
    try:
        verdict = _judge(command, intake)
    except DomainError:
        # A retry of a request that was answered before gets that first answer, even if the
        # window's rights changed since.
        async with intake.db.transaction() as session:
            replay = await _replay(session, window_id, command.idempotency_key, fingerprint)
        if replay is None:
            raise
        return replay
    if isinstance(verdict, _Notify):
        statement, (answer, values) = ISSUE_NOTICE, _notice(command, verdict)
    else:
        sequence = await intake.numbers.take()
        statement, (answer, values) = ACCEPT, _acceptance(command, verdict, intake, sequence)
    answer = await _commit_once(intake.db, command, fingerprint, answer, statement, values)
    if answer.status_code == 201:
        intake.outbox.written()
    return answer


def _judge(command: SubmitApplication, intake: Intake) -> _Accept | _Notify:
    """Check the application against its item's standard and this window's rights, from
    memory. Raises what refuses it outright; returns the one-time notice or the acceptance."""
    clerk, body = command.clerk, command.body
    item = intake.catalog.get(body.item_code)
    if item is None:
        raise Invalid.of_field("unknown_item", f"No catalog item {body.item_code}.", "item_code")
    submission = domain.Submission(
        applicant_kind=body.applicant.kind,
        id_type=body.applicant.id_type,
        id_number=body.applicant.id_number,
        applicant_locality=body.applicant.locality,
        property_locality=body.property_locality,
        materials=[
            domain.SubmittedMaterial(m.material_code, m.original_verified) for m in body.materials
        ],
        commitments=body.commitments,
        delivery_method=body.delivery.method,
        has_postal_address=body.delivery.address is not None,
    )
    try:
        resolution = intake.rules.resolve(
            item_code=item.item_code,
            applicant_locality=body.applicant.locality,
            property_locality=body.property_locality,
            receiving_locality=clerk.locality,
            at=clock.now(),
        )
    except JurisdictionError as problem:
        assessment = domain.assess(item, submission, may_verify_originals=False)
        if not any(p.code == problem.code for p in assessment.problems):
            field = _APPLICATION_FIELDS.get(problem.field, "applicant.locality")
            assessment.problems.append(domain.Problem(problem.code, str(problem), field=field))
        return _Notify(item, assessment.problems)
    if resolution is None:
        raise Unavailable(
            "routing_rules_unavailable",
            f"Routing has not published the jurisdiction rule of {item.item_code} yet; "
            "try again shortly.",
        )
    rights = resolution.receiving_rights
    if Right.ACCEPT not in rights:
        raise Forbidden(
            "no_accept_right",
            f"No trust agreement lets windows of {clerk.locality} accept {item.item_code} "
            f"for {resolution.competent_locality}.",
            {"competent_locality": resolution.competent_locality, "item_code": item.item_code},
        )
    assessment = domain.assess(
        item, submission, may_verify_originals=Right.VERIFY_ORIGINAL in rights
    )
    if body.delivery.method == DeliveryMethod.WINDOW_PICKUP and Right.DELIVER not in rights:
        assessment.problems.append(
            domain.Problem(
                "no_deliver_right",
                "This window may not hand over the result of this item; choose postal delivery.",
                field="delivery.method",
            )
        )
    if not assessment.complete:
        return _Notify(item, assessment.problems)
    return _Accept(item, resolution, assessment.deferred)


async def _replay(
    session: AsyncSession, window_id: str, key: str, fingerprint: str
) -> Answer | None:
    stored = await session.get(IdempotencyKeyRow, (window_id, key))
    if stored is None:
        return None
    if stored.request_hash != fingerprint:
        raise Conflict(
            "idempotency_key_reused",
            "This Idempotency-Key was used for a different application.",
        )
    return Answer(stored.status_code, stored.response)


async def _commit_once(
    db: Database,
    command: SubmitApplication,
    fingerprint: str,
    answer: Answer,
    statement: Insert,
    values: dict[str, Any],
) -> Answer:
    """Write the answer's rows and the idempotency record as one statement; a retry with the
    same key (concurrent or later) loses on the key's primary key and gets the first answer."""
    window_id = command.clerk.window_id
    assert window_id is not None
    remembered = {
        "window_id": window_id,
        "key": command.idempotency_key,
        "request_hash": fingerprint,
        "status_code": answer.status_code,
        "response": answer.body,
    }
    try:
        await db.execute_atomically(statement, {**values, **bound("key_", remembered)})
        return answer
    except IntegrityError:
        async with db.transaction() as session:
            replay = await _replay(session, window_id, command.idempotency_key, fingerprint)
        if replay is None:
            raise
        return replay


def _notice(command: SubmitApplication, verdict: _Notify) -> tuple[Answer, dict[str, Any]]:
    clerk = command.clerk
    now = clock.now()
    notice_no = f"N{clerk.locality}{now:%Y%m%d}{secrets.token_hex(4).upper()}"
    listed = [p.as_dict() for p in verdict.problems]
    notice = {
        "notice_no": notice_no,
        "item_code": verdict.item.item_code,
        "window_id": clerk.window_id,
        "receiving_locality": clerk.locality,
        "problems": listed,
        "issued_at": now,
    }
    answer = Answer(
        422,
        error_body(
            "incomplete_application",
            f"The application for {verdict.item.name} is incomplete: every problem is listed.",
            {"notice_no": notice_no, "problems": listed},
        ),
    )
    return answer, bound("notice_", notice)


def _acceptance(
    command: SubmitApplication, verdict: _Accept, intake: Intake, sequence: int
) -> tuple[Answer, dict[str, Any]]:
    clerk, body = command.clerk, command.body
    assert clerk.window_id is not None
    window_id = clerk.window_id
    item, resolution = verdict.item, verdict.resolution
    now = clock.now()
    today = now.date()
    application_no = domain.application_number(clerk.locality, today, sequence)
    promised = add_working_days(today, item.promised_days)
    applicant = body.applicant.model_dump(mode="json")
    materials = [m.model_dump(mode="json") for m in body.materials]
    delivery = body.delivery.model_dump(mode="json")
    application = {
        "application_no": application_no,
        "item_code": item.item_code,
        "status": ApplicationStatus.ACCEPTED,
        "applicant": applicant,
        "property_locality": body.property_locality,
        "receiving_locality": clerk.locality,
        "window_id": window_id,
        "competent_locality": resolution.competent_locality,
        "department": resolution.department,
        "materials": materials,
        "commitments": body.commitments,
        "deferred": verdict.deferred,
        "delivery": delivery,
        "promised_date": promised,
        "accepted_at": now,
        "accepted_by": clerk.sub,
        "updated_at": now,
    }
    first_entry = {
        "application_no": application_no,
        "at": now,
        "status": ApplicationStatus.ACCEPTED,
        "locality": clerk.locality,
        "note": f"Accepted at window {window_id}",
    }
    accepted = events.ApplicationAccepted(
        application_no=application_no,
        item_code=item.item_code,
        item_name=item.name,
        applicant=events.Applicant.model_validate(applicant),
        property_locality=body.property_locality,
        receiving_locality=clerk.locality,
        window_id=window_id,
        competent_locality=resolution.competent_locality,
        department=resolution.department,
        materials=[events.SubmittedMaterial.model_validate(m) for m in materials],
        commitments=body.commitments,
        deferred=verdict.deferred,
        delivery=events.Delivery.model_validate(delivery),
        accepted_at=now,
        promised_date=promised,
        statutory_days=item.statutory_days,
        promised_days=item.promised_days,
    )
    _, announcement = intake.outbox.row_for(accepted, topic=topics.INTAKE_EVENTS)
    out = ApplicationAcceptedOut(
        application_no=application_no,
        status=ApplicationStatus.ACCEPTED,
        item_code=item.item_code,
        receiving_locality=clerk.locality,
        window_id=window_id,
        competent_locality=resolution.competent_locality,
        department=resolution.department,
        promised_date=promised,
        accepted_at=now,
        deferred=verdict.deferred,
    )
    values = {
        **bound("app_", application),
        **bound("entry_", first_entry),
        **bound("event_", announcement),
    }
    return Answer(201, out.model_dump(mode="json")), values


async def record_progress(
    session: AsyncSession, payload: events.ApplicationEvent, at: datetime
) -> bool:
    """Append what an event means to the application's timeline; False if it means nothing.
    NotFound if intake has no such application (the event is dead-lettered)."""
    fact = domain.timeline_fact(payload)
    if fact is None:
        return False
    application = await session.scalar(
        select(ApplicationRow)
        .where(ApplicationRow.application_no == payload.application_no)
        .with_for_update()
    )
    if application is None:
        raise NotFound("application_not_found", f"No application {payload.application_no}.")
    session.add(
        TimelineEntryRow(
            application_no=payload.application_no,
            at=at,
            status=fact.status,
            locality=fact.locality,
            note=fact.note,
        )
    )
    application.status = domain.advanced_status(ApplicationStatus(application.status), fact.status)
    if fact.competent_locality:
        application.competent_locality = fact.competent_locality
    application.updated_at = clock.now()
    return True


@dataclass(frozen=True)
class Evaluate:
    """Command: the applicant rates a finished application at a window (好差评)."""

    application_no: str
    score: int
    comment: str
    by: Principal


FINISHED = (ApplicationStatus.DELIVERED, ApplicationStatus.REJECTED)


async def evaluate(session: AsyncSession, outbox: Outbox, command: Evaluate) -> EvaluationRow:
    application = await session.get(ApplicationRow, command.application_no)
    if application is None or not _may_follow(command.by, application):
        raise NotFound("application_not_found", f"No application {command.application_no}.")
    if application.status not in FINISHED:
        raise Conflict(
            "not_finished",
            "An application is rated once it is delivered or rejected.",
            {"status": application.status},
        )
    evaluation = {
        "application_no": application.application_no,
        "score": command.score,
        "comment": command.comment,
        "item_code": application.item_code,
        "window_id": application.window_id,
        "receiving_locality": application.receiving_locality,
        "competent_locality": application.competent_locality,
        "evaluated_at": clock.now(),
        "evaluated_by": command.by.sub,
    }
    if not await insert_if_absent(session, EvaluationRow, **evaluation):
        raise Conflict("already_evaluated", "This application has been rated already.")
    rated = events.ApplicationEvaluated(
        application_no=application.application_no,
        item_code=application.item_code,
        receiving_locality=application.receiving_locality,
        window_id=application.window_id,
        competent_locality=application.competent_locality,
        score=command.score,
        has_comment=bool(command.comment.strip()),
        evaluated_at=evaluation["evaluated_at"],
    )
    await outbox.add(session, rated, topic=topics.INTAKE_EVENTS)
    return EvaluationRow(**evaluation)


GROUPINGS = {
    "window": EvaluationRow.window_id,
    "locality": EvaluationRow.receiving_locality,
    "item": EvaluationRow.item_code,
}


async def evaluation_statistics(
    session: AsyncSession, viewer: Principal, by: str
) -> list[dict[str, Any]]:
    """Ratings per window, receiving locality or item, of the applications the viewer's
    locality received or decides."""
    key = GROUPINGS[by]
    pattern = within_pattern(viewer.locality)
    scores = [func.count().filter(EvaluationRow.score == n).label(f"s{n}") for n in range(1, 6)]
    rows = await session.execute(
        select(key, func.count(), func.avg(EvaluationRow.score), *scores)
        .where(
            or_(
                EvaluationRow.receiving_locality.like(pattern),
                EvaluationRow.competent_locality.like(pattern),
            )
        )
        .group_by(key)
        .order_by(key)
    )
    return [
        {
            "key": group,
            "count": count,
            "average": round(float(average), 2),
            "scores": {str(n): counts[n - 1] for n in range(1, 6)},
        }
        for group, count, average, *counts in rows
    ]


def _may_follow(principal: Principal, application: ApplicationRow) -> bool:
    return any(
        is_within(code, principal.locality)
        for code in (application.receiving_locality, application.competent_locality)
    )


async def get_application(
    session: AsyncSession, application_no: str, principal: Principal
) -> ApplicationOut:
    # One statement, so one snapshot: the status and the timeline always agree, even while a
    # consumer commits the next step between what would otherwise be two reads.
    rows = (
        await session.execute(
            select(ApplicationRow, TimelineEntryRow)
            .join(
                TimelineEntryRow, TimelineEntryRow.application_no == ApplicationRow.application_no
            )
            .where(ApplicationRow.application_no == application_no)
            .order_by(TimelineEntryRow.at, TimelineEntryRow.id)
        )
    ).all()
    application = rows[0][0] if rows else None
    # Another locality's application is reported as absent, not forbidden: numbers leak nothing.
    if application is None or not _may_follow(principal, application):
        raise NotFound("application_not_found", f"No application {application_no}.")
    return ApplicationOut(
        application_no=application.application_no,
        status=ApplicationStatus(application.status),
        item_code=application.item_code,
        competent_locality=application.competent_locality,
        receiving_locality=application.receiving_locality,
        window_id=application.window_id,
        promised_date=application.promised_date,
        deferred=application.deferred,
        timeline=[
            TimelineEntryOut.model_validate(entry, from_attributes=True) for _, entry in rows
        ],
    )


async def get_notice(session: AsyncSession, notice_no: str, principal: Principal) -> dict[str, Any]:
    notice = await session.get(NoticeRow, notice_no)
    if notice is None or not is_within(notice.receiving_locality, principal.locality):
        raise NotFound("notice_not_found", f"No notice {notice_no}.")
    return {
        "notice_no": notice.notice_no,
        "item_code": notice.item_code,
        "window_id": notice.window_id,
        "issued_at": notice.issued_at.isoformat(),
        "problems": notice.problems,
    }
