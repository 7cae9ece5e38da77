"""一件事: when a bundle application's certificates are ready, at the receiving window or for
one parcel by post. Its children's certificates wait unseen (not as single print jobs, not
posted alone) until the bundle is complete (intake's BundleCompleted names the approved
children) and every one of them has its certificate there. The two facts come on different
topics in either order; both take the bundle's advisory lock first, so whichever commits second
sees the other's row and makes the bundle ready: at the window, its one print job; by post, its
one parcel, which the dispatcher then hands to the carrier (parcels.py)."""

from __future__ import annotations

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from services.delivery.db import BundleDeliveryRow, PostalDispatchRow, PrintJobRow
from shared import clock
from shared.db import insert_if_absent
from shared.messaging import events
from shared.messaging.outbox import Outbox
from shared.vocabulary import DeliveryMethod, PostalStatus

WAITING, READY, DELIVERED = "waiting", "ready", "delivered"


async def lock_bundle(session: AsyncSession, bundle_no: str) -> None:
    await session.execute(
        text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
        {"key": f"delivery.bundle:{bundle_no}"},
    )


async def record_completed(
    session: AsyncSession, outbox: Outbox, completed: events.BundleCompleted
) -> None:
    await lock_bundle(session, completed.bundle_no)
    await insert_if_absent(
        session,
        BundleDeliveryRow,
        bundle_no=completed.bundle_no,
        bundle_id=completed.bundle_id,
        window_id=completed.window_id,
        locality=completed.receiving_locality,
        members=list(completed.members),
        status=WAITING,
        completed_at=completed.completed_at,
    )
    await make_ready(session, outbox, completed.bundle_no)


async def make_ready(session: AsyncSession, outbox: Outbox, bundle_no: str) -> bool:
    """Ready once every approved child's certificate is in the queue: each child's timeline is
    told it waits at the window (all at once); or, by post, once every one waits to be posted:
    the parcel is due for the carrier (announced when the carrier takes it). Call with the
    bundle's lock held."""
    bundle = await session.get(BundleDeliveryRow, bundle_no, with_for_update=True)
    if bundle is None or bundle.status != WAITING:
        return False
    if set(await posted_members(session, bundle)) == set(bundle.members):
        bundle.status, bundle.ready_at = PostalStatus.AWAITING_CARRIER, clock.now()
        bundle.method = DeliveryMethod.POSTAL
        return True
    jobs = await jobs_of(session, bundle)
    if {job.application_no for job in jobs} != set(bundle.members):
        return False
    now = clock.now()
    bundle.status, bundle.ready_at = READY, now
    bundle.method = DeliveryMethod.WINDOW_PICKUP
    for job in jobs:
        await outbox.add(
            session,
            events.CertificateReadyForPickup(
                application_no=job.application_no,
                certificate_no=job.certificate_no,
                window_id=job.window_id,
                locality=job.locality,
                queued_at=now,
                bundle_no=bundle.bundle_no,
            ),
        )
    return True


async def jobs_of(session: AsyncSession, bundle: BundleDeliveryRow) -> list[PrintJobRow]:
    return list(
        (
            await session.scalars(
                select(PrintJobRow)
                .where(PrintJobRow.application_no.in_(bundle.members))
                .order_by(PrintJobRow.application_no)
                .with_for_update()
            )
        ).all()
    )


async def posted_members(session: AsyncSession, bundle: BundleDeliveryRow) -> list[str]:
    """The members whose certificate waits for the bundle's parcel."""
    return list(
        (
            await session.scalars(
                select(PostalDispatchRow.application_no).where(
                    PostalDispatchRow.application_no.in_(bundle.members),
                    PostalDispatchRow.bundle_no == bundle.bundle_no,
                )
            )
        ).all()
    )
