"""What a window or an operator reads back: an application's progress, a notice again."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.intake import domain
from services.intake.db import ApplicationRow, NoticeRow, TimelineEntryRow
from services.intake.usecases.catalog import Catalog
from services.intake.usecases.notices import problems_in
from shared.auth import Principal
from shared.clock import china_time
from shared.errors import NotFound
from shared.i18n import _, current_locale
from shared.messaging import events
from shared.reference.localities import is_within
from shared.vocabulary import ApplicationStatus


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    # An ApplicationStatus, or a step finer than the application's status (`in_transit`).
    status: str
    locality: str
    note: str


@dataclass(frozen=True)
class ApplicationProgress:
    """An application as its window and its localities follow it: status and timeline."""

    application_no: str
    status: ApplicationStatus
    item_code: str
    competent_locality: str
    receiving_locality: str
    window_id: str
    promised_date: date
    deferred: list[str]
    deferred_due_on: date | None
    requested_materials: list[str]
    agent_name_masked: str | None
    catalog_version: str | None
    # 免证办: the materials proven by a cited certificate instead of a scan.
    certificates: list[events.CitedCertificate]
    timeline: list[TimelineEntry]
    # The trace of its acceptance (W3C trace id); None for applications accepted before.
    trace_id: str | None
    # 一件事: the bundle application it is a child of; None on its own.
    bundle_no: str | None = None


def may_follow(principal: Principal, application: ApplicationRow) -> bool:
    return any(
        is_within(code, principal.locality)
        for code in (application.receiving_locality, application.competent_locality)
    )


async def get_application(
    session: AsyncSession, application_no: str, principal: Principal, catalog: Catalog
) -> ApplicationProgress:
    """The application as `principal` may follow it, its timeline's notes in the reader's
    language (materials named as the catalog version it was accepted under names them)."""
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
    if application is None or not may_follow(principal, application):
        raise NotFound(
            "application_not_found",
            _("No application {application_no}.", application_no=application_no),
        )
    locale = current_locale()
    item = catalog.item(application.item_code, application.catalog_version)
    material_names = {m.material_code: m.name for m in item.materials} if item else {}
    return ApplicationProgress(
        application_no=application.application_no,
        status=ApplicationStatus(application.status),
        item_code=application.item_code,
        competent_locality=application.competent_locality,
        receiving_locality=application.receiving_locality,
        window_id=application.window_id,
        promised_date=application.promised_date,
        deferred=application.deferred,
        deferred_due_on=application.deferred_due_on,
        requested_materials=application.requested_materials or [],
        agent_name_masked=application.agent_name_masked,
        catalog_version=application.catalog_version,
        certificates=[events.CitedCertificate.model_validate(c) for c in application.certificates],
        timeline=[
            TimelineEntry(
                entry.at,
                entry.status,
                entry.locality,
                domain.note_text(entry.note, entry.note_params, locale, material_names),
            )
            for _row, entry in rows
        ],
        trace_id=application.trace_id,
        bundle_no=application.bundle_no,
    )


async def get_notice(session: AsyncSession, notice_no: str, principal: Principal) -> dict[str, Any]:
    notice = await session.get(NoticeRow, notice_no)
    if notice is None or not is_within(notice.receiving_locality, principal.locality):
        raise NotFound("notice_not_found", _("No notice {notice_no}.", notice_no=notice_no))
    return {
        "notice_no": notice.notice_no,
        "item_code": notice.item_code,
        "window_id": notice.window_id,
        "issued_at": china_time(notice.issued_at),
        "problems": problems_in(current_locale(), notice.problems),
    }
