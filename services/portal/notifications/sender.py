"""The sender: the pending notifications go to the SMS gateway, oldest first, each with its
row's id as the gateway's idempotency `reference`, and are marked sent in the same transaction
that picked them (FOR UPDATE SKIP LOCKED: two portal processes never take the same row).

While the gateway is down a row stays pending and the sender waits, longer each time (up to
MAX_BACKOFF_SECONDS). A crash between the send and the commit leaves the row pending: it is
sent again with the same reference, which the gateway answers with the message it already has
(contracts/sms-gateway.md), so the applicant still gets one text. The phone is looked up in the
registry of residents when sent and never stored or logged.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.portal.db import NotificationRow
from services.portal.notifications.store import PENDING
from services.portal.residents import Residents
from shared import clock
from shared.db import Database
from shared.runtime import pause
from shared.sms import DeliveryReport, SmsRefused, SmsUnavailable

log = logging.getLogger(__name__)

# A notification's reference at the gateway; a sign-in code's is its challenge's UUID.
REFERENCE_PREFIX = "notification-"
SENT = "sent"
# Final states besides the gateway's reports (delivered, failed).
REFUSED = "refused"  # the gateway will never take it (a malformed number in the registry)
UNREACHABLE = "unreachable"  # the registry has no phone for the digest any more
BATCH = 20
POLL_SECONDS = 0.5
MAX_BACKOFF_SECONDS = 30.0


class Gateway(Protocol):
    """shared.sms.SmsGateway, or a fake in unit tests."""

    async def send(self, to: str, text: str, *, reference: str) -> str: ...


def reference_of(notification_id: int) -> str:
    return f"{REFERENCE_PREFIX}{notification_id}"


def notification_of(reference: str) -> int | None:
    """The notification a gateway reference names; None for another sender's (a sign-in)."""
    number = reference.removeprefix(REFERENCE_PREFIX)
    if number == reference or not number.isdigit():
        return None
    return int(number)


@dataclass(frozen=True)
class Round:
    sent: int
    # The gateway was unavailable: what is left waits for the next round.
    outage: bool


class Sender:
    def __init__(
        self,
        db: Database,
        residents: Residents,
        gateway: Gateway,
        *,
        batch: int = BATCH,
        poll_seconds: float = POLL_SECONDS,
    ) -> None:
        self.db = db
        self.residents = residents
        self.gateway = gateway
        self.batch = batch
        self.poll_seconds = poll_seconds
        # Set by whoever just recorded a notification (the submission): sent without a poll.
        self.wake = asyncio.Event()

    async def send_due(self) -> Round:
        """Send up to `batch` pending notifications; stops at the first the gateway does not
        take for being down."""
        sent, outage = 0, False
        async with self.db.transaction() as session:
            rows = await session.scalars(
                select(NotificationRow)
                .where(NotificationRow.status == PENDING)
                .order_by(NotificationRow.notification_id)
                .limit(self.batch)
                .with_for_update(skip_locked=True)
            )
            for row in rows.all():
                if not await self._send(row):
                    outage = True
                    break
                sent += row.status == SENT
        return Round(sent, outage)

    async def _send(self, row: NotificationRow) -> bool:
        """Send one row and record how it went; False if the gateway is down."""
        resident = self.residents.find(row.id_digest)
        if resident is None:
            row.status = UNREACHABLE
            log.warning("notification %d: no phone registered for it", row.notification_id)
            return True
        row.attempts += 1
        reference = reference_of(row.notification_id)
        try:
            row.message_id = await self.gateway.send(resident.phone, row.text, reference=reference)
        except SmsUnavailable:
            return False
        except SmsRefused as refused:
            row.status = REFUSED
            log.error("notification %d refused by the gateway (%s)", row.notification_id, refused)
            return True
        row.status, row.sent_at = SENT, clock.now()
        log.info("notification %d (%s, %s) sent", row.notification_id, row.fact, row.application_no)
        return True

    async def run(self, stopping: asyncio.Event) -> None:
        """Send until `stopping` is set: at once while there is more, every `poll_seconds`
        when idle, backing off while the gateway or the database is away."""
        backoff = self.poll_seconds
        while not stopping.is_set():
            self.wake.clear()
            try:
                done = await self.send_due()
            except Exception as error:
                log.warning("sending notifications failed (%s); trying again", type(error).__name__)
                done = Round(0, True)
            if done.outage:
                await pause(backoff, stopping)
                backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
                continue
            backoff = self.poll_seconds
            if done.sent == 0:
                await pause(self.poll_seconds, stopping, self.wake)


async def record_report(session: AsyncSession, report: DeliveryReport) -> None:
    """The gateway's word on a notification: the first report of it settles it, any report
    after that (the same one again, a late one) changes nothing."""
    notification_id = notification_of(report.reference)
    if notification_id is None:
        return
    await session.execute(
        update(NotificationRow)
        .where(
            NotificationRow.notification_id == notification_id,
            NotificationRow.status.in_((PENDING, SENT)),
        )
        .values(status=report.status, message_id=report.message_id, reported_at=report.at)
    )
