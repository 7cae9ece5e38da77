"""全程网办: the applications handed in through the applicants' portal (channel `online`), and
the applicant each one belongs to, by the ID number's keyed digest.

Intake's own rules judge them exactly as at a window: the portal names the window the applicant
chose (where a result is picked up, or whose locality receives a posted one), and the use cases
run for that window. This table only remembers whose an online application is; it is written
after the acceptance commits, idempotently, so a retry of the same submission (same
Idempotency-Key: the same first answer) records the same row once.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, String, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from services.intake.bundle_db import BundleRow
from services.intake.db import ApplicationRow, Base
from shared import clock
from shared.db import Database

CHANNEL_ONLINE = "online"


class OnlineApplicationRow(Base):
    __tablename__ = "online_applications"

    application_no: Mapped[str] = mapped_column(String(32), primary_key=True)
    applicant_id_digest: Mapped[str] = mapped_column(String(64), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    window_id: Mapped[str] = mapped_column(String(32))
    submitted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


async def record_online(
    db: Database, application_no: str, id_digest: str, window_id: str, *children: str
) -> None:
    """Whose `application_no` is; for a bundle (一件事) its number and its children's, the held
    ones too (each is an application once released)."""
    now = clock.now()
    async with db.transaction() as session:
        await session.execute(
            insert(OnlineApplicationRow)
            .values(
                [
                    {
                        "application_no": number,
                        "applicant_id_digest": id_digest,
                        "channel": CHANNEL_ONLINE,
                        "window_id": window_id,
                        "submitted_at": now,
                    }
                    for number in (application_no, *children)
                ]
            )
            .on_conflict_do_nothing()
        )


async def owns(session: AsyncSession, application_no: str, id_digest: str) -> str | None:
    """The application's receiving window when it is this applicant's, else None."""
    row = await session.get(OnlineApplicationRow, application_no)
    if row is None or row.applicant_id_digest != id_digest:
        return None
    return row.window_id


async def applications_of(session: AsyncSession, id_digest: str) -> list[dict[str, object]]:
    rows = await session.execute(
        select(
            ApplicationRow.application_no,
            ApplicationRow.item_code,
            ApplicationRow.status,
            ApplicationRow.accepted_at,
        )
        .join(
            OnlineApplicationRow,
            OnlineApplicationRow.application_no == ApplicationRow.application_no,
        )
        .where(OnlineApplicationRow.applicant_id_digest == id_digest)
        .order_by(ApplicationRow.accepted_at.desc())
        .limit(200)
    )
    return [
        {
            "application_no": no,
            "item_code": item_code,
            "status": status,
            "accepted_at": clock.china_time(accepted_at),
        }
        for no, item_code, status, accepted_at in rows
    ]


async def bundles_of(session: AsyncSession, id_digest: str) -> list[str]:
    """The numbers of the applicant's own online bundles (一件事), newest first."""
    rows = await session.scalars(
        select(BundleRow.bundle_no)
        .join(OnlineApplicationRow, OnlineApplicationRow.application_no == BundleRow.bundle_no)
        .where(OnlineApplicationRow.applicant_id_digest == id_digest)
        .order_by(BundleRow.accepted_at.desc())
        .limit(50)
    )
    return list(rows)
