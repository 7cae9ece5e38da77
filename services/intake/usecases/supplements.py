"""Supplements (补正, 容缺): requested or deferred materials handed in at an entitled window."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.intake import domain
from services.intake.db import (
    ApplicationRow,
    NoticeRow,
    SupplementRow,
    TimelineEntryRow,
)
from services.intake.deps import Intake
from services.intake.schemas import (
    SupplementIn,
    SupplementOut,
)
from services.intake.usecases.evaluations import FINISHED
from services.intake.usecases.notices import notice_number
from services.intake.usecases.scans import unknown_scans, with_scan
from shared import clock
from shared.auth import Principal
from shared.errors import (
    Conflict,
    Forbidden,
    Invalid,
    NotFound,
)
from shared.messaging import events, topics
from shared.vocabulary import ApplicationStatus, Right


@dataclass(frozen=True)
class HandInSupplement:
    """Command: materials the competent locality asked for (补正), or deferred ones (容缺),
    handed in at a window."""

    application_no: str
    body: SupplementIn
    clerk: Principal


async def hand_in_supplement(intake: Intake, command: HandInSupplement) -> SupplementOut:
    """At the receiving window, or any window whose locality holds the `notify` right for the
    item from the competent locality. Every problem is listed at once, as a one-time notice,
    and a refused supplement changes nothing."""
    if command.clerk.window_id is None:
        raise Forbidden("window_required", "Only a clerk at a window can take a supplement.")
    scans = await intake.scans.lookup(
        (m.sha256 for m in command.body.materials), command.clerk.window_id
    )
    async with intake.db.transaction() as session:
        outcome = await _take_supplement(session, intake, command, scans)
    if isinstance(outcome, SupplementOut):
        return outcome
    item_code, problems = outcome
    clerk = command.clerk
    now = clock.now()
    notice_no = notice_number(clerk.locality, now)
    listed = [p.as_dict() for p in problems]
    async with intake.db.transaction() as session:
        session.add(
            NoticeRow(
                notice_no=notice_no,
                item_code=item_code,
                window_id=clerk.window_id,
                receiving_locality=clerk.locality,
                problems=listed,
                issued_at=now,
            )
        )
    raise Invalid(
        "incomplete_application",
        "The supplement is incomplete: every problem is listed.",
        {"notice_no": notice_no, "problems": listed},
    )


async def _take_supplement(
    session: AsyncSession,
    intake: Intake,
    command: HandInSupplement,
    scans: Mapping[str, tuple[int, str]],
) -> SupplementOut | tuple[str, list[domain.Problem]]:
    clerk = command.clerk
    window_id = clerk.window_id
    assert window_id is not None
    application = await session.get(ApplicationRow, command.application_no, with_for_update=True)
    if application is None:
        raise NotFound("application_not_found", f"No application {command.application_no}.")
    rights = _rights_at(intake, clerk, application)
    if Right.NOTIFY not in rights:
        raise Forbidden(
            "no_notify_right",
            f"Windows of {clerk.locality} may not take supplements for {application.item_code} "
            f"on behalf of {application.competent_locality}.",
        )
    requested = application.requested_materials or []
    expected = [*requested, *application.deferred]
    if not expected or application.status in FINISHED:
        raise Conflict(
            "no_supplement_expected",
            "Nothing is requested or deferred for this application.",
            {"status": application.status},
        )
    # The item's standard as the application was accepted under it.
    item = intake.catalog.item(application.item_code, application.catalog_version)
    problems = domain.assess_supplement(
        expected=expected,
        requested=requested,
        handed_in=[
            domain.SubmittedMaterial(m.material_code, m.original_verified)
            for m in command.body.materials
        ],
        original_required={
            m.material_code for m in (item.materials if item else []) if m.original_required
        },
        may_verify_originals=Right.VERIFY_ORIGINAL in rights,
    )
    scans = {**await _scans_of(session, application), **scans}
    problems += unknown_scans(command.body.materials, scans)
    if problems:
        return application.item_code, problems
    now = clock.now()
    materials = [with_scan(m.model_dump(mode="json"), scans) for m in command.body.materials]
    codes = [m["material_code"] for m in materials]
    session.add(
        SupplementRow(
            application_no=application.application_no,
            materials=materials,
            window_id=window_id,
            locality=clerk.locality,
            handed_in_at=now,
            handed_in_by=clerk.sub,
        )
    )
    application.deferred = [c for c in application.deferred if c not in codes]
    application.requested_materials = [c for c in requested if c not in codes] or None
    application.updated_at = now
    session.add(
        TimelineEntryRow(
            application_no=application.application_no,
            at=now,
            status=application.status,
            locality=clerk.locality,
            note=f"Materials {', '.join(codes)} handed in at window {window_id}",
        )
    )
    supplemented = events.ApplicationSupplemented(
        application_no=application.application_no,
        item_code=application.item_code,
        materials=[events.SubmittedMaterial.model_validate(m) for m in materials],
        receiving_locality=clerk.locality,
        window_id=window_id,
        competent_locality=application.competent_locality,
        supplemented_at=now,
    )
    await intake.outbox.add(session, supplemented, topic=topics.INTAKE_EVENTS)
    return SupplementOut(
        application_no=application.application_no,
        status=ApplicationStatus(application.status),
        materials=codes,
        window_id=window_id,
        handed_in_at=now,
        requested_materials=application.requested_materials or [],
        deferred=application.deferred,
    )


async def _scans_of(
    session: AsyncSession, application: ApplicationRow
) -> dict[str, tuple[int, str]]:
    """The scans that belong to the application (its materials, the supplements handed in for
    it), with their size and type: any window taking a supplement for it may cite them again."""
    handed_in = await session.scalars(
        select(SupplementRow.materials).where(
            SupplementRow.application_no == application.application_no
        )
    )
    materials = [*application.materials, *(m for batch in handed_in for m in batch)]
    return {
        m["sha256"]: (m["size"], m["content_type"])
        for m in materials
        if m.get("sha256") and m.get("size") is not None and m.get("content_type")
    }


def _rights_at(intake: Intake, clerk: Principal, application: ApplicationRow) -> frozenset[Right]:
    """What this window may do for the application now, from the replica of the agreements.
    The locality that accepted it may always take what it asked for (its notice duty)."""
    rights = intake.rules.rights(
        clerk.locality, application.competent_locality, application.item_code, at=clock.now()
    )
    if clerk.locality == application.receiving_locality:
        return rights | {Right.NOTIFY}
    return rights
