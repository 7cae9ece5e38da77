"""The notifications' rows: which applications the portal may notify, and one row per fact to
send, written in the transaction that learns the fact (the consumer's, or the submission's).

The row's key (application, fact, repeat) makes every write of a fact after the first a no-op:
a redelivered event, or an event and the submission telling the same acceptance, send once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.portal.db import KnownApplicationRow, NotificationRow
from services.portal.notifications.texts import Fact, render
from shared import clock
from shared.db import Database

PENDING = "pending"
ONLINE = "online"
WINDOW = "window"


@dataclass(frozen=True)
class Known:
    application_no: str
    id_digest: str
    item_code: str


async def know(
    session: AsyncSession, application_no: str, id_digest: str, item_code: str, channel: str
) -> Known:
    """Remember whose `application_no` is (the first word stays: an online application's
    digest is the one the portal signed in)."""
    await session.execute(
        insert(KnownApplicationRow)
        .values(
            application_no=application_no,
            id_digest=id_digest,
            item_code=item_code,
            channel=channel,
            known_at=clock.now(),
        )
        .on_conflict_do_nothing()
    )
    found = await known(session, application_no)
    assert found is not None
    return found


async def known(session: AsyncSession, application_no: str) -> Known | None:
    row = await session.get(KnownApplicationRow, application_no)
    if row is None:
        return None
    return Known(row.application_no, row.id_digest, row.item_code)


async def notify(
    session: AsyncSession, to: Known, fact: Fact, params: dict[str, Any], repeat: str = ""
) -> bool:
    """Record the SMS of `fact` for the applicant of `to`, unless recorded before; whether it
    is new. The text is rendered now (no personal data in it), so a resend is the same text."""
    text = render(fact, {"application_no": to.application_no, **params})
    written = await session.execute(
        insert(NotificationRow)
        .values(
            application_no=to.application_no,
            fact=fact.value,
            repeat=repeat[:64],
            id_digest=to.id_digest,
            text=text,
            status=PENDING,
            created_at=clock.now(),
            attempts=0,
        )
        .on_conflict_do_nothing(constraint="uq_notifications_fact")
        .returning(NotificationRow.notification_id)
    )
    return written.scalar_one_or_none() is not None


async def record_submission(
    db: Database, application_no: str, id_digest: str, item_code: str, item_name: str
) -> None:
    """An application the portal handed in and intake accepted: whose it is, and its
    acceptance's SMS. Told again (the same form resubmitted, intake answering the same number)
    it changes nothing."""
    async with db.transaction() as session:
        to = await know(session, application_no, id_digest, item_code, ONLINE)
        await notify(session, to, Fact.ACCEPTED, {"item": item_name})


async def of_application(db: Database, application_no: str) -> list[NotificationRow]:
    """The notifications of one application, oldest first (tests, operators)."""
    async with db.transaction() as session:
        rows = await session.scalars(
            select(NotificationRow)
            .where(NotificationRow.application_no == application_no)
            .order_by(NotificationRow.notification_id)
        )
        return list(rows)
