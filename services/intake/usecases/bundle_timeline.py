"""一件事: a bundle application's own timeline, as the window (and the applicant it prints it
for) follows it: each department's progress and clock side by side, every step of every child
in one list, and the supplements the departments ask for gathered into ONE request to the
applicant (补正: only the asking child's clock stops; the others run on)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.intake.bundle_db import BundleChildRow, BundleRow, ChildStatus
from services.intake.usecases.bundle_queries import bundle_state
from services.intake.usecases.catalog import Catalog
from services.intake.usecases.queries import ApplicationProgress, TimelineEntry, get_application
from shared.auth import Principal
from shared.errors import NotFound
from shared.vocabulary import ApplicationStatus

PAUSED = frozenset({ApplicationStatus.SUPPLEMENT_REQUESTED, ApplicationStatus.SUPPLEMENT_SUBMITTED})
STOPPED = frozenset(
    {
        ApplicationStatus.APPROVED,
        ApplicationStatus.REJECTED,
        ApplicationStatus.WITHDRAWN,
        ApplicationStatus.UNROUTABLE,
        ApplicationStatus.READY_FOR_PICKUP,
        ApplicationStatus.DISPATCHED,
        ApplicationStatus.DELIVERED,
    }
)


@dataclass(frozen=True)
class MemberProgress:
    """One department's part: where its child stands and its clock."""

    application_no: str
    item_code: str
    item_name: str
    department: str
    competent_locality: str
    status: str  # an ApplicationStatus, or `held` (waiting for a sibling's certificate)
    waits_for: list[str]
    promised_date: date
    clock: str  # running, paused (补正), stopped (decided), not_started (held)
    paused_since: datetime | None
    steps: int


@dataclass(frozen=True)
class BundleStep:
    at: datetime
    item_code: str
    department: str
    status: str
    locality: str
    note: str


@dataclass(frozen=True)
class SupplementAsked:
    item_code: str
    item_name: str
    department: str
    materials: list[str]  # the materials' names
    asked_at: datetime | None


@dataclass(frozen=True)
class BundleTimeline:
    bundle_no: str
    name: str
    status: str
    promised_date: date
    members: list[MemberProgress]
    # One combined request (补正) for the whole bundle: what every asking department wants.
    supplement_request: list[SupplementAsked]
    steps: list[BundleStep]


async def bundle_timeline(
    session: AsyncSession, bundle_no: str, principal: Principal, catalog: Catalog
) -> BundleTimeline:
    state = await bundle_state(session, bundle_no, principal)  # NotFound unless allowed
    bundle = await session.get(BundleRow, bundle_no)
    assert bundle is not None
    children = {
        child.application_no: child
        for child in (
            await session.scalars(
                select(BundleChildRow).where(BundleChildRow.bundle_no == bundle_no)
            )
        ).all()
    }
    members, steps, asked = [], [], []
    for shown in state.children:
        child = children[shown.application_no]
        item = catalog.item(child.item_code, bundle.catalog_version)
        name = item.name if item else child.item_code
        progress = await _progress(session, child, principal, catalog)
        timeline = progress.timeline if progress else []
        status = progress.status.value if progress else ChildStatus.HELD
        if shown.withdrawn and progress is None:
            status = ApplicationStatus.WITHDRAWN.value
        paused_since = _paused_since(progress, timeline)
        members.append(
            MemberProgress(
                application_no=child.application_no,
                item_code=child.item_code,
                item_name=name,
                department=child.department,
                competent_locality=child.competent_locality,
                status=status,
                waits_for=sorted(child.waits_for),
                promised_date=child.promised_date,
                clock=_clock(progress, paused_since),
                paused_since=paused_since,
                steps=len(timeline),
            )
        )
        steps += [_step(child, entry) for entry in timeline]
        if progress is not None and progress.status == ApplicationStatus.SUPPLEMENT_REQUESTED:
            names = {m.material_code: m.name for m in item.materials} if item else {}
            asked.append(
                SupplementAsked(
                    item_code=child.item_code,
                    item_name=name,
                    department=child.department,
                    materials=[names.get(c, c) for c in progress.requested_materials],
                    asked_at=paused_since,
                )
            )
    return BundleTimeline(
        bundle_no=bundle.bundle_no,
        name=state.name,
        status=state.status,
        promised_date=state.promised_date,
        members=members,
        supplement_request=asked,
        steps=sorted(steps, key=lambda s: s.at),
    )


async def _progress(
    session: AsyncSession, child: BundleChildRow, principal: Principal, catalog: Catalog
) -> ApplicationProgress | None:
    """The child's own progress; None while held (no application yet), or for a viewer that
    follows only another child (a competent locality sees its own children's steps)."""
    if child.status == ChildStatus.HELD:
        return None
    try:
        return await get_application(session, child.application_no, principal, catalog)
    except NotFound:
        return None


def _paused_since(
    progress: ApplicationProgress | None, timeline: list[TimelineEntry]
) -> datetime | None:
    if progress is None or progress.status not in PAUSED:
        return None
    asked = [e.at for e in timeline if e.status == ApplicationStatus.SUPPLEMENT_REQUESTED]
    return asked[-1] if asked else None


def _clock(progress: ApplicationProgress | None, paused_since: datetime | None) -> str:
    if progress is None:
        return "not_started"
    if progress.status in STOPPED:
        return "stopped"
    return "paused" if paused_since is not None else "running"


def _step(child: BundleChildRow, entry: TimelineEntry) -> BundleStep:
    return BundleStep(
        at=entry.at,
        item_code=child.item_code,
        department=child.department,
        status=entry.status,
        locality=entry.locality,
        note=entry.note,
    )
