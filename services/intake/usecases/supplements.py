"""Supplements (补正, 容缺): requested or deferred materials handed in at an entitled window."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.intake import domain
from services.intake.db import ApplicationRow, NoticeRow, SupplementRow, TimelineEntryRow
from services.intake.schemas import SupplementIn
from services.intake.usecases.catalog import Catalog
from services.intake.usecases.notices import OneTimeNotice, one_time_notice
from services.intake.usecases.scans import ScanRegistry, unknown_scans, with_scan
from shared import clock
from shared.auth import Principal
from shared.errors import Conflict, Forbidden, NotFound
from shared.i18n import N_, _
from shared.jurisdiction import RuleBook
from shared.messaging import events
from shared.messaging.outbox import Outbox
from shared.vocabulary import ApplicationStatus, Right


@dataclass(frozen=True)
class HandInSupplement:
    """Command: materials the competent locality asked for (补正), or deferred ones (容缺),
    handed in at a window."""

    application_no: str
    # The validated request body, passed as it is: converting it would only copy its fields.
    body: SupplementIn
    clerk: Principal


@dataclass(frozen=True)
class SupplementTaken:
    """A supplement as it was taken, and what is still outstanding after it."""

    application_no: str
    status: ApplicationStatus
    materials: list[str]
    window_id: str
    handed_in_at: datetime
    requested_materials: list[str]
    deferred: list[str]


async def hand_in_supplement(
    session: AsyncSession,
    command: HandInSupplement,
    *,
    outbox: Outbox,
    catalog: Catalog,
    rules: RuleBook,
    scans: ScanRegistry,
) -> SupplementTaken | OneTimeNotice:
    """At the receiving window, or any window whose locality holds the `notify` right for the
    item from the competent locality. Every problem is listed at once, as a one-time notice,
    and a refused supplement changes nothing but that notice: it is returned, not raised, so
    that the transaction stores it (the caller answers it as 422)."""
    if command.clerk.window_id is None:
        raise Forbidden("window_required", _("Only a clerk at a window can take a supplement."))
    known = await scans.lookup((m.sha256 for m in command.body.materials), command.clerk.window_id)
    outcome = await _take_supplement(
        session, command, known, outbox=outbox, catalog=catalog, rules=rules
    )
    if isinstance(outcome, SupplementTaken):
        return outcome
    item_code, problems = outcome
    notice = one_time_notice(
        command.clerk,
        item_code,
        _("The supplement is incomplete: every problem is listed."),
        problems,
    )
    session.add(NoticeRow(**notice.row))
    return notice


async def _take_supplement(
    session: AsyncSession,
    command: HandInSupplement,
    scans: Mapping[str, tuple[int, str]],
    *,
    outbox: Outbox,
    catalog: Catalog,
    rules: RuleBook,
) -> SupplementTaken | tuple[str, list[domain.Problem]]:
    clerk = command.clerk
    window_id = clerk.window_id
    assert window_id is not None
    application = await session.get(ApplicationRow, command.application_no, with_for_update=True)
    if application is None:
        raise NotFound(
            "application_not_found",
            _("No application {application_no}.", application_no=command.application_no),
        )
    rights = _rights_at(rules, clerk, application)
    if Right.NOTIFY not in rights:
        raise Forbidden(
            "no_notify_right",
            _(
                "Windows of {locality} may not take supplements for {item_code} on behalf of "
                "{competent_locality}.",
                locality=clerk.locality,
                item_code=application.item_code,
                competent_locality=application.competent_locality,
            ),
        )
    requested = application.requested_materials or []
    expected = [*requested, *application.deferred]
    if not expected or application.status in domain.FINISHED:
        raise Conflict(
            "no_supplement_expected",
            _("Nothing is requested or deferred for this application."),
            {"status": application.status},
        )
    # The item's standard as the application was accepted under it.
    item = catalog.item(application.item_code, application.catalog_version)
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
    application.status = domain.status_after_supplement(
        ApplicationStatus(application.status),
        answers_request=bool(requested) and not application.requested_materials,
    )
    application.updated_at = now
    session.add(
        TimelineEntryRow(
            application_no=application.application_no,
            at=now,
            status=application.status,
            locality=clerk.locality,
            note=N_("Materials {materials} handed in at window {window_id}"),
            note_params={"materials": codes, "window_id": window_id},
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
    await outbox.add(session, supplemented)
    return SupplementTaken(
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


def _rights_at(rules: RuleBook, clerk: Principal, application: ApplicationRow) -> frozenset[Right]:
    """What this window may do for the application now, from the replica of the agreements.
    The locality that accepted it may always take what it asked for (its notice duty)."""
    rights = rules.rights(
        clerk.locality, application.competent_locality, application.item_code, at=clock.now()
    )
    if clerk.locality == application.receiving_locality:
        return rights | {Right.NOTIFY}
    return rights
