"""Intake's use cases: accept an application at a window, and record its progress."""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.intake import domain
from services.intake.db import (
    ApplicationRow,
    CatalogItemRow,
    IdempotencyKeyRow,
    NoticeRow,
    TimelineEntryRow,
    application_sequence,
)
from services.intake.routing_client import JurisdictionProblem, Resolution, RoutingClient
from services.intake.schemas import ApplicationAcceptedOut, ApplicationIn
from shared.auth import Principal
from shared.db import Database, upsert
from shared.errors import ApiError, error_body
from shared.messaging import events, topics
from shared.messaging.outbox import Outbox
from shared.reference.catalog import CATALOG, CatalogItem
from shared.workdays import add_working_days, today_in_china


@dataclass(frozen=True)
class SubmitApplication:
    """Command: a window clerk hands in an application."""

    body: ApplicationIn
    clerk: Principal
    idempotency_key: str
    authorization: str


@dataclass(frozen=True)
class Answer:
    status_code: int
    body: dict[str, Any]


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
            updated_at=datetime.now(UTC),
        )


async def _replay(
    session: AsyncSession, window_id: str, key: str, fingerprint: str
) -> Answer | None:
    stored = await session.get(IdempotencyKeyRow, (window_id, key))
    if stored is None:
        return None
    if stored.request_hash != fingerprint:
        raise ApiError(
            409,
            "idempotency_key_reused",
            "This Idempotency-Key was used for a different application.",
        )
    return Answer(stored.status_code, stored.response)


async def submit_application(
    command: SubmitApplication, *, db: Database, outbox: Outbox, routing: RoutingClient
) -> Answer:
    clerk, body = command.clerk, command.body
    if clerk.window_id is None:
        raise ApiError(403, "window_required", "Only a clerk at a window can hand in applications.")
    fingerprint = request_hash(body)
    # One read-only round trip: the first answer to this key, if any, and the item's standard.
    async with db.transaction() as session:
        replay = await _replay(session, clerk.window_id, command.idempotency_key, fingerprint)
        row = await session.get(CatalogItemRow, body.item_code)
    if replay is not None:
        return replay
    if row is None:
        raise ApiError(
            422, "unknown_item", f"No catalog item {body.item_code}.", [{"field": "item_code"}]
        )
    item = CatalogItem.model_validate(row.guide)

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
        resolution = await routing.resolve(
            authorization=command.authorization,
            item_code=item.item_code,
            applicant_locality=body.applicant.locality,
            property_locality=body.property_locality,
            receiving_locality=clerk.locality,
        )
    except JurisdictionProblem as problem:
        assessment = domain.assess(item, submission, may_verify_originals=False)
        if not any(p.code == problem.code for p in assessment.problems):
            assessment.problems.append(
                domain.Problem(problem.code, problem.message, field=problem.field)
            )
        return await _issue_notice(db, command, fingerprint, item, assessment.problems)

    if "accept" not in resolution.receiving_rights:
        raise ApiError(
            403,
            "no_accept_right",
            f"No trust agreement lets windows of {clerk.locality} accept {item.item_code} "
            f"for {resolution.competent_locality}.",
            {"competent_locality": resolution.competent_locality, "item_code": item.item_code},
        )
    assessment = domain.assess(
        item, submission, may_verify_originals="verify_original" in resolution.receiving_rights
    )
    if body.delivery.method == "window_pickup" and "deliver" not in resolution.receiving_rights:
        assessment.problems.append(
            domain.Problem(
                "no_deliver_right",
                "This window may not hand over the result of this item; choose postal delivery.",
                field="delivery.method",
            )
        )
    if not assessment.complete:
        return await _issue_notice(db, command, fingerprint, item, assessment.problems)
    return await _accept(db, outbox, command, fingerprint, item, resolution, assessment.deferred)


async def _remember(
    session: AsyncSession, command: SubmitApplication, fingerprint: str, answer: Answer
) -> None:
    assert command.clerk.window_id is not None
    session.add(
        IdempotencyKeyRow(
            window_id=command.clerk.window_id,
            key=command.idempotency_key,
            request_hash=fingerprint,
            status_code=answer.status_code,
            response=answer.body,
        )
    )
    await session.flush()


async def _commit_once(
    db: Database, command: SubmitApplication, fingerprint: str, write: Any
) -> Answer:
    """Run `write` in one transaction with the idempotency record; a concurrent retry with the
    same key loses the race on the key's primary key and gets the winner's answer instead."""
    try:
        async with db.transaction() as session:
            answer: Answer = await write(session)
            await _remember(session, command, fingerprint, answer)
        return answer
    except IntegrityError:
        assert command.clerk.window_id is not None
        async with db.transaction() as session:
            replay = await _replay(
                session, command.clerk.window_id, command.idempotency_key, fingerprint
            )
        if replay is None:
            raise
        return replay


async def _issue_notice(
    db: Database,
    command: SubmitApplication,
    fingerprint: str,
    item: CatalogItem,
    problems: list[domain.Problem],
) -> Answer:
    assert command.clerk.window_id is not None
    window_id = command.clerk.window_id

    async def write(session: AsyncSession) -> Answer:
        now = datetime.now(UTC)
        notice_no = f"N{command.clerk.locality}{now:%Y%m%d}{secrets.token_hex(4).upper()}"
        listed = [p.as_dict() for p in problems]
        session.add(
            NoticeRow(
                notice_no=notice_no,
                item_code=item.item_code,
                window_id=window_id,
                receiving_locality=command.clerk.locality,
                problems=listed,
                issued_at=now,
            )
        )
        return Answer(
            422,
            error_body(
                "incomplete_application",
                f"The application for {item.name} is incomplete: every problem is listed.",
                {"notice_no": notice_no, "problems": listed},
            ),
        )

    return await _commit_once(db, command, fingerprint, write)


async def _accept(
    db: Database,
    outbox: Outbox,
    command: SubmitApplication,
    fingerprint: str,
    item: CatalogItem,
    resolution: Resolution,
    deferred: list[str],
) -> Answer:
    clerk, body = command.clerk, command.body
    assert clerk.window_id is not None
    window_id = clerk.window_id

    async def write(session: AsyncSession) -> Answer:
        now = datetime.now(UTC)
        today = today_in_china()
        sequence = await session.scalar(application_sequence.next_value())
        application_no = domain.application_number(clerk.locality, today, int(sequence or 0))
        promised = add_working_days(today, item.promised_days)
        applicant = body.applicant.model_dump(mode="json")
        session.add(
            ApplicationRow(
                application_no=application_no,
                item_code=item.item_code,
                status="accepted",
                applicant=applicant,
                property_locality=body.property_locality,
                receiving_locality=clerk.locality,
                window_id=window_id,
                competent_locality=resolution.competent_locality,
                department=resolution.department,
                materials=[m.model_dump(mode="json") for m in body.materials],
                commitments=body.commitments,
                deferred=deferred,
                delivery=body.delivery.model_dump(mode="json"),
                promised_date=promised,
                accepted_at=now,
                accepted_by=clerk.sub,
                updated_at=now,
            )
        )
        await session.flush()
        session.add(
            TimelineEntryRow(
                application_no=application_no,
                at=now,
                status="accepted",
                locality=clerk.locality,
                note=f"Accepted at window {window_id}",
            )
        )
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
            materials=[
                events.SubmittedMaterial.model_validate(m.model_dump()) for m in body.materials
            ],
            commitments=body.commitments,
            deferred=deferred,
            delivery=events.Delivery.model_validate(body.delivery.model_dump()),
            accepted_at=now,
            promised_date=promised,
            statutory_days=item.statutory_days,
            promised_days=item.promised_days,
        )
        await outbox.add(session, accepted, topic=topics.INTAKE_EVENTS)
        out = ApplicationAcceptedOut(
            application_no=application_no,
            status="accepted",
            item_code=item.item_code,
            receiving_locality=clerk.locality,
            window_id=window_id,
            competent_locality=resolution.competent_locality,
            department=resolution.department,
            promised_date=promised,
            accepted_at=now,
            deferred=deferred,
        )
        return Answer(201, out.model_dump(mode="json"))

    return await _commit_once(db, command, fingerprint, write)


async def record_progress(
    session: AsyncSession, application_no: str, at: datetime, payload: events.EventPayload
) -> bool:
    """Append what an event means to the application's timeline; False if it means nothing."""
    fact = domain.timeline_fact(payload)
    if fact is None:
        return False
    application = await session.scalar(
        select(ApplicationRow)
        .where(ApplicationRow.application_no == application_no)
        .with_for_update()
    )
    if application is None:
        raise LookupError(f"no application {application_no}")
    session.add(
        TimelineEntryRow(
            application_no=application_no,
            at=at,
            status=fact.status,
            locality=fact.locality,
            note=fact.note,
        )
    )
    application.status = domain.advanced_status(application.status, fact.status)
    application.updated_at = datetime.now(UTC)
    return True
