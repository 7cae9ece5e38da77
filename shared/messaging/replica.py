"""A local replica of a compacted topic (event-carried state transfer).

A service that must decide at once from another service's data (intake: the competent locality
and this window's rights, owned by routing) keeps that data in memory, fed by the owner's
compacted topic: read from the beginning at start (the latest record per key is the state), then
followed. No request waits on the owner, and the owner may be down.

The follower is not a consumer group: every process reads every partition from the start and
commits nothing. Records that cannot be read are logged and skipped (the owner publishes the
whole state again on its next start, so one bad record never sticks).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from shared.messaging.envelope import Envelope, EnvelopeError
from shared.messaging.events import EventPayload
from shared.messaging.kafka import KafkaSecurity, make_follower
from shared.messaging.signing import EventVerifier

log = logging.getLogger(__name__)


class ReplicaNotLoaded(RuntimeError):
    """The topic could not be read to its end within the start timeout."""


class TopicReplica:
    """Follows `topic` from its beginning and hands each readable payload to `apply`."""

    def __init__(
        self,
        *,
        topic: str,
        bootstrap_servers: str,
        apply: Callable[[EventPayload], None],
        name: str,
        verifier: EventVerifier | None = None,
        security: KafkaSecurity | None = None,
    ) -> None:
        # State nobody can vouch for is never applied: an unsigned or forged record is skipped.
        self.verifier = verifier
        self.topic = topic
        self.bootstrap_servers = bootstrap_servers
        self.security = security
        self.apply = apply
        self.name = name
        self.applied = 0
        self.caught_up = False
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self, *, load_within: float = 30.0) -> None:
        """Read the topic to its current end, then keep following it in the background."""
        # No group: this process is assigned every partition and starts at the beginning.
        consumer = make_follower(
            self.bootstrap_servers, self.topic, client_id=self.name, security=self.security
        )
        await consumer.start()
        self._consumer = consumer
        try:
            await asyncio.wait_for(self._load(consumer), timeout=load_within)
        except TimeoutError as exc:
            await self.stop()
            raise ReplicaNotLoaded(
                f"{self.name}: {self.topic} was not read to its end within {load_within:.0f}s"
            ) from exc
        self._task = asyncio.create_task(self._follow(consumer), name=f"{self.name}:follow")

    async def _load(self, consumer: AIOKafkaConsumer) -> None:
        # aiokafka assigns the partitions once it has the topic's metadata, and offers nothing
        # to await for that: look again shortly.
        while not consumer.assignment():  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        assigned = sorted(consumer.assignment())
        end = await consumer.end_offsets(assigned)
        remaining = {tp for tp in assigned if end[tp] > 0}
        while remaining:
            self._apply_batch(await consumer.getmany(timeout_ms=200))
            for tp in list(remaining):
                if await consumer.position(tp) >= end[tp]:
                    remaining.discard(tp)
        self.caught_up = True
        log.info("%s: loaded %d records from %s", self.name, self.applied, self.topic)

    async def _follow(self, consumer: AIOKafkaConsumer) -> None:
        # A replica that stopped following would decide from stale rules without anyone
        # noticing: log what goes wrong and keep following (aiokafka reconnects by itself).
        while True:
            try:
                self._apply_batch(await consumer.getmany(timeout_ms=1000))
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("%s: following %s failed; trying again", self.name, self.topic)
                await asyncio.sleep(1)

    def _apply_batch(
        self, batches: dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]]
    ) -> None:
        for records in batches.values():
            for record in records:
                try:
                    envelope = Envelope.from_kafka(
                        record.key, record.value, list(record.headers or ())
                    )
                    if self.verifier is not None:
                        self.verifier.verify(envelope, record.topic)
                    payload = envelope.payload()
                except EnvelopeError as exc:
                    log.warning("%s: skipped an unreadable record: %s", self.name, exc)
                    continue
                self.apply(payload)
                self.applied += 1

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None
        self.caught_up = False

    @property
    def following(self) -> bool:
        return self._task is not None and not self._task.done()
