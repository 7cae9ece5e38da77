"""What a window or an operator reads of bundle applications (一件事): one bundle as it stands,
and the bundles of a locality with their stuck members."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.intake.bundle_db import BundleChildRow, BundleRow, ChildStatus
from services.intake.bundle_schemas import BundleAcceptedOut, BundleChildOut
from services.intake.db import CatalogVersionRow
from services.intake.domain.bundles import FAILED, Child, never_released
from shared import clock
from shared.auth import Principal
from shared.errors import NotFound
from shared.i18n import _
from shared.reference.bundles import Bundle
from shared.reference.localities import LIKE_ESCAPE, is_within, within_pattern


async def bundle_state(
    session: AsyncSession, bundle_no: str, principal: Principal
) -> BundleAcceptedOut:
    """The receipt as it stands: each child accepted, held or released, and its decision.
    Seen by the receiving locality and by every child's competent locality (and those above)."""
    bundle = await session.get(BundleRow, bundle_no)
    children = (
        await session.scalars(select(BundleChildRow).where(BundleChildRow.bundle_no == bundle_no))
    ).all()
    localities = [bundle.receiving_locality] if bundle else []
    localities += [child.competent_locality for child in children]
    if bundle is None or not any(is_within(code, principal.locality) for code in localities):
        raise NotFound(
            "unknown_bundle_application",
            _("No bundle application {bundle_no}.", bundle_no=bundle_no),
        )
    return await _shown(session, bundle, children)


async def bundles_of(
    session: AsyncSession, viewer: Principal, *, status: str | None, limit: int
) -> list[BundleAcceptedOut]:
    """The bundles the viewer's locality received or decides a child of, newest first."""
    pattern = within_pattern(viewer.locality)
    involved = select(BundleChildRow.bundle_no).where(
        BundleChildRow.competent_locality.like(pattern, escape=LIKE_ESCAPE)
    )
    query = select(BundleRow).where(
        or_(
            BundleRow.receiving_locality.like(pattern, escape=LIKE_ESCAPE),
            BundleRow.bundle_no.in_(involved),
        )
    )
    if status is not None:
        query = query.where(BundleRow.status == status)
    bundles = (
        await session.scalars(query.order_by(BundleRow.accepted_at.desc()).limit(limit))
    ).all()
    shown = []
    for bundle in bundles:
        children = (
            await session.scalars(
                select(BundleChildRow).where(BundleChildRow.bundle_no == bundle.bundle_no)
            )
        ).all()
        shown.append(await _shown(session, bundle, children))
    return shown


def stuck_members(bundle: BundleRow, children: Sequence[BundleChildRow]) -> list[str]:
    """The members an operator should look at: held but never to be released (what they wait
    for was rejected, or the bundle failed), or undecided past their promised date."""
    modelled = [
        Child(c.item_code, c.required, c.status == ChildStatus.HELD, c.outcome, c.waits_for)
        for c in children
    ]
    stuck = never_released(modelled)
    today = clock.today()
    for child in children:
        if child.outcome is None and (
            (bundle.status == FAILED and child.status == ChildStatus.HELD)
            or child.promised_date < today
        ):
            stuck.add(child.item_code)
    return sorted(stuck)


async def _shown(
    session: AsyncSession, bundle: BundleRow, children: Sequence[BundleChildRow]
) -> BundleAcceptedOut:
    published = await _published_bundle(session, bundle.catalog_version, bundle.bundle_id)
    return BundleAcceptedOut(
        bundle_no=bundle.bundle_no,
        bundle_id=bundle.bundle_id,
        name=published.name if published else bundle.bundle_id,
        lead_department=published.lead_department if published else "",
        catalog_version=bundle.catalog_version,
        receiving_locality=bundle.receiving_locality,
        window_id=bundle.window_id,
        promised_date=bundle.promised_date,
        status=bundle.status,
        stuck=stuck_members(bundle, children),
        rejection=bundle.rejection,
        children=[
            BundleChildOut(
                application_no=child.application_no,
                item_code=child.item_code,
                required=child.required,
                status=child.status,
                outcome=child.outcome,
                waits_for=sorted(child.waits_for),
                competent_locality=child.competent_locality,
                department=child.department,
                promised_date=child.promised_date,
                withdrawn=child.withdrawn_at is not None,
                revoked=child.revoked,
            )
            for child in sorted(children, key=lambda c: c.application_no)
        ],
    )


async def _published_bundle(session: AsyncSession, version: str, bundle_id: str) -> Bundle | None:
    row = await session.get(CatalogVersionRow, version)
    listed = (row.bundles or []) if row else []
    return next((Bundle.model_validate(b) for b in listed if b["bundle_id"] == bundle_id), None)
