"""The competent locality of each application as routing last told it, against which approval's
events are checked: each only from the locality routing made competent (shared.competence)."""

from __future__ import annotations

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.delivery.db import CompetenceRow
from shared.competence import check_competent
from shared.messaging import events


async def check(session: AsyncSession, event: events.ApplicationEvent) -> None:
    """Refuse an event of another locality for good; one that comes before routing's fact
    waits for it (shared.competence)."""
    row = await session.get(CompetenceRow, event.application_no)
    competent, transferring_to = (
        (row.competent_locality, row.transferring_to) if row else (None, None)
    )
    check_competent(event, event.application_no, competent, transferring_to)


async def record_transfer(session: AsyncSession, event: events.CaseTransferred) -> None:
    """移交: the competent locality handed the case on; until routing's fact comes, the case is
    nobody's (shared.competence)."""
    row = await session.get(CompetenceRow, event.application_no, with_for_update=True)
    if row is not None and row.competent_locality == event.to_locality and not row.transferring_to:
        return  # routing's fact of this transfer was read first
    check_competent(
        event,
        event.application_no,
        row.competent_locality if row else None,
        row.transferring_to if row else None,
    )
    assert row is not None  # check_competent waits for routing's fact otherwise
    row.transferring_to = event.to_locality


async def record_routing_fact(
    session: AsyncSession, event: events.Routed | events.Transferred
) -> None:
    """Routing's latest fact wins (one application's facts are in order on its partition)."""
    values = {
        "competent_locality": event.competent_locality,
        "routed_at": event.routed_at,
        "transferring_to": None,
    }
    await session.execute(
        insert(CompetenceRow)
        .values(application_no=event.application_no, **values)
        .on_conflict_do_update(index_elements=[CompetenceRow.application_no], set_=values)
    )
