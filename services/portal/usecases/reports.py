"""The SMS gateway's delivery reports (signed with SMS_REPORT_SECRET; shared.sms): each kept
once per message id, the latest word winning, so a report sent again changes nothing; a
notification's report also settles its row (services/portal/notifications/sender.py)."""

from __future__ import annotations

from services.portal.db import SmsReportRow
from services.portal.notifications import sender
from shared.db import Database, upsert
from shared.sms import DeliveryReport


async def record_report(db: Database, report: DeliveryReport) -> None:
    async with db.transaction() as session:
        await upsert(
            session,
            SmsReportRow,
            message_id=report.message_id,
            reference=report.reference,
            status=report.status,
            at=report.at,
        )
        await sender.record_report(session, report)
