"""The portal's notifications at work, beside its pages: the consumer of the facts (the shared
consumer runner: inbox, effects committed before offsets, dead letters, every signature
checked) and the sender, as tasks of the portal's lifespan.

Both run in the background: the pages never wait for the broker or the gateway. A consumer run
that dies (the broker away at start, a lost connection) is started again after a backoff that
doubles up to a minute; what it had read and not committed comes again, and the inbox and the
notifications' keys turn every repeat into a no-op.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta

from sqlalchemy import delete

from services.portal import consumers
from services.portal.db import RejectionNoticeRow
from services.portal.notifications.sender import Gateway, Sender
from services.portal.notifications.store import record_submission
from services.portal.residents import Residents
from shared import clock
from shared.db import Database
from shared.db.messaging_tables import inbox
from shared.messaging.consumer import ConsumerRunner
from shared.messaging.kafka import client_security, make_producer
from shared.messaging.outbox import Outbox
from shared.messaging.signing import EventVerifier, KnownSignatures
from shared.runtime import pause
from shared.settings import Settings
from shared.telemetry import Telemetry, mask_personal_data

log = logging.getLogger(__name__)

RESTART_MAX_SECONDS = 60.0
HOUSEKEEPING_SECONDS = 3600.0
# A notice whose rejection never came (none should) is forgotten after this.
NOTICE_RETENTION = timedelta(days=7)


class Notifier:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        residents: Residents,
        gateway: Gateway,
        telemetry: Telemetry,
    ) -> None:
        self.settings = settings
        self.db = db
        self.telemetry = telemetry
        self.subscription = consumers.subscription(residents, settings.windows_file)
        self.sender = Sender(db, residents, gateway)
        self.runner: ConsumerRunner | None = None
        # Every event's signature and signer checked (shared.messaging.signing).
        self.verifier = EventVerifier(settings.key_ring(), KnownSignatures())
        self._stopping = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._stopping.clear()
        for name, work in (
            ("consumer", self._consume()),
            ("sender", self.sender.run(self._stopping)),
            ("housekeeping", self._housekeeping()),
        ):
            self._tasks.append(asyncio.create_task(work, name=f"portal:notifications:{name}"))

    async def stop(self, grace_seconds: float = 10.0) -> None:
        """Stop taking work: the consumer finishes the record in hand and commits."""
        self._stopping.set()
        if self._tasks:
            _, pending = await asyncio.wait(self._tasks, timeout=grace_seconds)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        self._tasks.clear()

    async def _consume(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            try:
                await self._run_consumer()
                failures = 0
            except Exception as error:
                # The broker away, a lost connection, or settings it refuses (logged each time:
                # the pages go on, and an operator sees why no text goes out).
                failures += 1
                log.error(
                    "portal notifications: the consumer stopped (%s); again in %.0f s",
                    mask_personal_data(f"{type(error).__name__}: {error}"),
                    min(2.0**failures, RESTART_MAX_SECONDS),
                )
                await pause(min(2.0**failures, RESTART_MAX_SECONDS), self._stopping)

    async def _run_consumer(self) -> None:
        """One run of the consumer, until the portal stops or an error ends it."""
        settings = self.settings
        security = client_security(settings)
        # Dead letters only: the portal publishes no event.
        producer = make_producer(
            settings.kafka_bootstrap_servers, client_id="tongban-portal", security=security
        )
        runner = ConsumerRunner(
            name=self.subscription.name,
            topics=self.subscription.topics,
            handlers=self.subscription.by_type,
            db=self.db,
            outbox=Outbox(source="/tongban/portal"),
            producer=producer,
            telemetry=self.telemetry,
            bootstrap_servers=settings.kafka_bootstrap_servers,
            max_attempts=settings.consumer_max_attempts,
            backoff_seconds=settings.consumer_backoff_seconds,
            verifier=self.verifier,
            security=security,
        )
        try:
            await producer.start()
            await runner.start()
            self.runner = runner
            await runner.run(self._stopping)
        finally:
            self.runner = None
            with contextlib.suppress(Exception):
                await runner.stop()
            with contextlib.suppress(Exception):
                await producer.stop()

    async def _housekeeping(self) -> None:
        """Handled events' inbox rows and stray notices do not pile up (the notifications'
        own keys keep a fact read again after its inbox row went from sending twice)."""
        while not self._stopping.is_set():
            now = clock.now()
            try:
                async with self.db.transaction() as session:
                    kept = timedelta(days=self.settings.inbox_retention_days)
                    await session.execute(delete(inbox).where(inbox.c.processed_at < now - kept))
                    await session.execute(
                        delete(RejectionNoticeRow).where(
                            RejectionNoticeRow.issued_at < now - NOTICE_RETENTION
                        )
                    )
            except Exception as error:
                log.warning("portal notifications: housekeeping failed (%s)", type(error).__name__)
            await pause(HOUSEKEEPING_SECONDS, self._stopping)

    async def submitted(
        self, application_no: str, id_digest: str, item_code: str, item_name: str
    ) -> None:
        """Intake accepted an application the portal handed in: its applicant is known, and
        the acceptance's SMS goes out at once."""
        await record_submission(self.db, application_no, id_digest, item_code, item_name)
        self.sender.wake.set()
