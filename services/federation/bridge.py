"""The gateway's Kafka side, inside the province (contracts/federation.md §9):

- it reads `tongban.federation.outgoing` (routing's `ApplicationHandedOver`, signed by
  routing: checked before any effect) as the consumer group `tongban.federation`, and queues
  each in `federation_outbox` with the event's id as the message id, so a redelivered event is
  queued once; the offset is committed only after the queueing committed;
- it sends delivery's facts on an application handed over (ready for pickup, dispatched,
  delivered: `tongban.delivery.events`) to the competent partner, and publishes a partner's
  sealed certificate for delivery (usecases/delivery.py);
- it publishes, on `tongban.federation.events`, a `FederationMessageLogged` per message sent
  (once acknowledged) and received (once verified), signed with its `federation` key, until each
  is published (`logged_at`): routing's audit ledger chains them with the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.structs import ConsumerRecord
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.federation.db import IncomingRow, OutgoingRow
from services.federation.usecases import delivery, scans
from services.federation.usecases.outgoing import enqueue
from shared.canonical import canonical_json
from shared.crypto.keyring import KeyRing
from shared.crypto.sm import sm3
from shared.db import Database
from shared.federation.anchors import TrustedPartners
from shared.federation.statuses import RESULT_STATUS, reported_time
from shared.messaging import events, topics
from shared.messaging.envelope import Envelope, EnvelopeError
from shared.messaging.kafka import client_security, make_consumer, make_producer
from shared.messaging.signing import EventSigner, EventVerifier
from shared.messaging.subscriptions import Subscription
from shared.settings import Settings

log = logging.getLogger(__name__)

GROUP = "tongban.federation"
# What the bridge reads, declared as the services declare theirs (the table of readers,
# shared.messaging.readers, is held to it); its loop is its own (Bridge.consume_forever).
READS = Subscription(
    name=GROUP,
    topics=(topics.FEDERATION_OUTGOING, topics.APPROVAL_EVENTS, topics.DELIVERY_EVENTS),
    handlers={},
)
# The way back (contracts/federation.md §10): what this province's approval states about an
# application a partner's window accepted, as the message type the partner maps to its status.
RESULTS: dict[type[events.EventPayload], str] = {
    events.CaseOpened: "case.opened",
    events.CaseSupplementRequested: "case.supplement_requested",
    events.CaseResumed: "case.resumed",
    events.ApplicationApproved: "application.approved",
    events.ApplicationRejected: "application.rejected",
    # The sealed documents travel too; they move no status (RESULT_STATUS).
    events.CertificateIssued: "certificate.issued",
    events.RejectionNoticeIssued: "rejection_notice.issued",
}
HANDED_OVER = "application.handed_over"
SOURCE = "tongban/federation"
# Fields of the sender's ApplicationHandedOver that are not the application's.
_SENDERS_OWN = {"partner_province", "routed_at"}


class Bridge:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        ring: KeyRing,
        province: str,
        partners: TrustedPartners | None = None,
    ) -> None:
        self.settings = settings
        self.partners = partners or TrustedPartners(settings.federation_trust_dir)
        self.db = db
        self.province = province
        self.verifier = EventVerifier(ring)
        self.signer = EventSigner(ring)
        # aiokafka's clients are made in the running loop (consume_forever, log_forever).
        self.security = client_security(settings)
        self.producer: AIOKafkaProducer | None = None

    async def take(self, record: ConsumerRecord[bytes, bytes]) -> None:
        """Queue one handed-over application for its partner (once per event id). An event
        not signed by routing, or not one, is logged and skipped: it never crosses."""
        try:
            envelope = Envelope.from_kafka(record.key, record.value, record.headers)
            self.verifier.verify(envelope, record.topic)
            payload = envelope.payload()
        except (EnvelopeError, ValueError) as problem:
            log.error(
                "federation: refused %s@%d:%d: %s",
                record.topic,
                record.partition,
                record.offset,
                problem,
            )
            return
        if type(payload) in RESULTS:
            await self._send_back(envelope.id, payload)
            return
        if type(payload) in delivery.DELIVERY_FACTS:
            async with self.db.transaction() as session:
                partner = await delivery.send_delivery_fact(session, envelope.id, payload)
            if partner is not None:
                log.info("federation: %s queued for province %s", payload.event_type, partner)
        if isinstance(payload, events.ScanRequested):
            async with self.db.transaction() as session:
                await scans.ask(session, payload)
            return
        if not isinstance(payload, events.ApplicationHandedOver):
            return
        async with self.db.transaction() as session:
            await enqueue(
                session,
                to_province=payload.partner_province,
                type=HANDED_OVER,
                body=payload.model_dump(mode="json"),
                message_id=envelope.id,
            )
        log.info(
            "federation: %s queued for province %s (event %s)",
            payload.application_no,
            payload.partner_province,
            envelope.id,
        )

    async def _send_back(self, event_id: str, payload: events.EventPayload) -> None:
        """An approval event of an application received from a partner goes back to that
        partner (once per event id); any other application's is none of the gateway's."""
        number = getattr(payload, "application_no", None)
        async with self.db.transaction() as session:
            partner = await session.scalar(
                select(IncomingRow.from_province)
                .where(IncomingRow.application_no == number, IncomingRow.type == HANDED_OVER)
                .limit(1)
            )
            if partner is None:
                return
            await enqueue(
                session,
                to_province=partner,
                type=RESULTS[type(payload)],
                body=payload.model_dump(mode="json"),
                message_id=event_id,
            )
        log.info("federation: %s of %s queued for province %s", payload.event_type, number, partner)

    async def consume_forever(self, wake: asyncio.Event) -> None:
        """Read and queue; a consumer that fails (the broker away) is logged and made again."""
        while True:
            try:
                await self._consume(wake)
            except Exception:
                log.exception("federation: reading %s failed; again in a second", READS.topics)
            await asyncio.sleep(1)

    async def _consume(self, wake: asyncio.Event) -> None:
        consumer: AIOKafkaConsumer = make_consumer(
            self.settings.kafka_bootstrap_servers,
            READS.topics,
            group_id=READS.name,
            client_id="tongban-federation",
            security=self.security,
        )
        await consumer.start()
        log.info("federation: reading %s as %s", ", ".join(READS.topics), READS.name)
        try:
            while True:
                batches = await consumer.getmany(timeout_ms=1000)
                for partition, records in batches.items():
                    for record in records:
                        await self.take(record)
                    place = TopicPartition(partition.topic, partition.partition)
                    await consumer.commit({place: records[-1].offset + 1})
                if batches:
                    wake.set()  # the sender sends what was just queued
        finally:
            with contextlib.suppress(Exception):
                await consumer.stop()

    async def publish_logs(self) -> int:
        """Publish the log event of each message sent or received and not logged yet."""
        published = 0
        async with self.db.transaction() as session:
            sent = await session.scalars(
                select(OutgoingRow)
                .where(OutgoingRow.sent_at.is_not(None), OutgoingRow.logged_at.is_(None))
                .limit(100)
                .with_for_update(skip_locked=True)
            )
            for row in sent:
                assert row.signed_time and row.signer and row.signature
                await self._publish(
                    "sent", row, self.province, row.to_province, row.signed_time, row.signer
                )
                row.logged_at = datetime.now(UTC)
                published += 1
            received = await session.scalars(
                select(IncomingRow)
                .where(IncomingRow.logged_at.is_(None))
                .limit(100)
                .with_for_update(skip_locked=True)
            )
            for incoming in received:
                await self._publish(
                    "received",
                    incoming,
                    incoming.from_province,
                    self.province,
                    incoming.signed_time,
                    incoming.signer,
                )
                if incoming.type == HANDED_OVER:
                    await self._hand_in(incoming)
                elif incoming.type in delivery.DELIVERY_TYPES:
                    await delivery.delivery_fact_received(session, incoming)
                elif incoming.type == delivery.CERTIFICATE_ISSUED:
                    certificate = await delivery.partner_certificate(
                        session, incoming, self.partners
                    )
                    if certificate is not None:
                        await self._emit(topics.FEDERATION_RESULTS, certificate)
                elif incoming.type in RESULT_STATUS:
                    await self._report(session, incoming)
                elif incoming.type == scans.SCAN:
                    # Verified and stored when it was received (scans.on_receipt).
                    await self._send(topics.FEDERATION_EVENTS, scans.scan_received(incoming))
                incoming.logged_at = datetime.now(UTC)
                published += 1
        return published

    async def _hand_in(self, incoming: IncomingRow) -> None:
        """代收: a partner's application for this province, on tongban.federation.incoming for
        routing (published with its log event, so at least once; routing keeps one verdict per
        application). A body that is not an application is logged and goes no further."""
        try:
            received = events.PartnerApplicationReceived.model_validate(
                {
                    # The sender's hand-off, less what only its own routing said.
                    **{k: v for k, v in incoming.body.items() if k not in _SENDERS_OWN},
                    "from_province": incoming.from_province,
                    "message_id": incoming.message_id,
                    "received_at": incoming.received_at,
                }
            )
        except ValueError as problem:
            log.error(
                "federation: %s from province %s is not an application: %s",
                incoming.message_id,
                incoming.from_province,
                str(problem)[:300],
            )
            return
        await self._emit(topics.FEDERATION_INCOMING, received)
        log.info(
            "federation: %s from province %s handed to routing",
            received.application_no,
            incoming.from_province,
        )

    async def _report(self, session: AsyncSession, incoming: IncomingRow) -> None:
        """The way back: what a partner reports on an application this province handed over to
        that very partner, on tongban.federation.results for intake's timeline. A report on
        any other application (not ours, or handed to another province) is logged, no more."""
        handed = await session.scalar(
            select(OutgoingRow.seq).where(
                OutgoingRow.application_no == incoming.application_no,
                OutgoingRow.to_province == incoming.from_province,
                OutgoingRow.type == HANDED_OVER,
            )
        )
        locality = incoming.body.get("locality")
        if (
            handed is None
            or not isinstance(locality, str)
            or locality[:2] != incoming.from_province
        ):
            log.error(
                "federation: %s %s from province %s is not about an application handed to it",
                incoming.type,
                incoming.message_id,
                incoming.from_province,
            )
            return
        reported = events.PartnerResultReceived(
            application_no=incoming.application_no or "",
            from_province=incoming.from_province,
            message_type=incoming.type,
            status=RESULT_STATUS[incoming.type],
            locality=locality,
            message_id=incoming.message_id,
            received_at=incoming.received_at,
            occurred_at=reported_time(incoming.type, incoming.body),
        )
        await self._emit(topics.FEDERATION_RESULTS, reported)

    async def _emit(self, topic: str, payload: events.EventPayload) -> None:
        """Publish `payload` on `topic`, signed with the gateway's `federation` key."""
        envelope = self.signer.sign(Envelope.new(payload, source=SOURCE), topic)
        key, value, headers = envelope.to_kafka()
        assert self.producer is not None, "log_forever starts the producer"
        await self.producer.send_and_wait(topic, value, key=key, headers=headers)

    async def _publish(
        self,
        direction: str,
        row: Any,
        from_province: str,
        to_province: str,
        signed_time: datetime,
        signer: str,
    ) -> None:
        logged = events.FederationMessageLogged.model_validate(
            {
                "direction": direction,
                "message_id": row.message_id,
                "message_type": row.type,
                "application_no": row.application_no,
                "from_province": from_province,
                "to_province": to_province,
                "signed_time": signed_time,
                "signer": signer,
                "signature": row.signature,
                "body_sm3": sm3(canonical_json(row.body)).hex(),
                "logged_at": datetime.now(UTC),
            }
        )
        await self._emit(topics.FEDERATION_EVENTS, logged)

    async def _send(self, topic: str, payload: events.EventPayload) -> None:
        envelope = self.signer.sign(Envelope.new(payload, source=SOURCE), topic)
        key, value, headers = envelope.to_kafka()
        assert self.producer is not None, "log_forever starts the producer"
        await self.producer.send_and_wait(topic, value, key=key, headers=headers)

    async def log_forever(self, every: float) -> None:
        while True:
            try:
                await self._log(every)
            except Exception:
                log.exception("federation: the message log's producer failed; again in a second")
            await asyncio.sleep(1)

    async def _log(self, every: float) -> None:
        self.producer = make_producer(
            self.settings.kafka_bootstrap_servers,
            client_id="tongban-federation",
            security=self.security,
        )
        await self.producer.start()
        try:
            while True:
                try:
                    await self.publish_logs()
                except Exception:
                    log.exception("federation: publishing the message log failed")
                await asyncio.sleep(every)
        finally:
            with contextlib.suppress(Exception):
                await self.producer.stop()
