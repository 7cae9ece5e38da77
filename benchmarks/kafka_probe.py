"""Kafka-side measurements: case.opened events as approval publishes them, and the raw
producer → broker → consumer round trip that bounds any event-driven hop on this broker."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime

from aiokafka import AIOKafkaConsumer

from shared.messaging.events import CaseOpened
from shared.messaging.kafka import KafkaSecurity, ensure_topics, make_producer
from shared.messaging.topics import APPROVAL_EVENTS

CASE_OPENED = CaseOpened.event_type.encode()
WARM_UP = b"-1"  # the key of raw_round_trip's uncounted first record


def _is_case_opened(headers: Sequence[tuple[str, bytes]] | None) -> bool:
    # CloudEvents binary mode: the type is the ce_type header (aiokafka: str name, bytes value).
    return any(name == "ce_type" and value == CASE_OPENED for name, value in headers or ())


def _header(headers: Sequence[tuple[str, bytes]] | None, wanted: str) -> bytes:
    return next((value for name, value in headers or () if name == wanted), b"")


async def _assigned_consumer(
    bootstrap_servers: str, topic: str, *, from_beginning: bool, security: KafkaSecurity
) -> AIOKafkaConsumer:
    """A consumer of every partition of `topic`, in no group (no commits, no rebalances),
    positioned before this returns: at the end unless `from_beginning`."""
    for _ in range(50):
        # Subscribed with no group: start() assigns every partition the topic has.
        consumer = AIOKafkaConsumer(
            topic,
            **security,
            bootstrap_servers=bootstrap_servers,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            client_id=f"tongban-bench-{uuid.uuid4().hex[:6]}",
        )
        await consumer.start()
        assigned = sorted(consumer.assignment(), key=lambda tp: tp.partition)
        if assigned:
            break
        await consumer.stop()
        await asyncio.sleep(0.2)
    else:
        raise RuntimeError(f"topic {topic} has no partitions")
    try:
        if from_beginning:
            await consumer.seek_to_beginning(*assigned)
        else:
            await consumer.seek_to_end(*assigned)
        for partition in assigned:
            await consumer.position(partition)  # resolves the offset now, not at first fetch
    except BaseException:
        await consumer.stop()
        raise
    return consumer


class CaseOpenedWatcher:
    """Collects every gov.tongban.case.opened.v1 event on tongban.approval.events:
    application number → the `opened_at` of each event seen for it."""

    def __init__(
        self, bootstrap_servers: str, *, from_beginning: bool, security: KafkaSecurity
    ) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.security = security
        self.from_beginning = from_beginning
        self.opened: dict[str, list[datetime]] = {}
        self.event_ids: dict[str, set[bytes]] = {}  # the distinct ce_id of those events
        self.records = 0
        self.arrived = asyncio.Event()
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._consumer = await _assigned_consumer(
            self.bootstrap_servers,
            APPROVAL_EVENTS,
            from_beginning=self.from_beginning,
            security=self.security,
        )
        self._task = asyncio.create_task(self._run(self._consumer), name="case-opened-watcher")

    async def _run(self, consumer: AIOKafkaConsumer) -> None:
        while True:
            batches = await consumer.getmany(timeout_ms=200)
            for records in batches.values():
                for record in records:
                    self.records += 1
                    if record.value is None or not _is_case_opened(record.headers):
                        continue
                    data = json.loads(record.value)
                    number = data["application_no"]
                    self.opened.setdefault(number, []).append(
                        datetime.fromisoformat(data["opened_at"])
                    )
                    self.event_ids.setdefault(number, set()).add(_header(record.headers, "ce_id"))
                    self.arrived.set()

    def count_for(self, numbers: set[str]) -> int:
        return sum(1 for number in numbers if number in self.opened)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._consumer is not None:
            await self._consumer.stop()


async def raw_round_trip(
    bootstrap_servers: str,
    count: int,
    *,
    partitions: int,
    pause: float = 0.0,
    tick: Callable[[], None] | None = None,
    security: KafkaSecurity,
    ready: asyncio.Event | None = None,
) -> list[float]:
    """Seconds from send to receipt of `count` small records, sent one at a time (`pause`
    seconds from one send's start to the next, or each once the previous is acknowledged) by
    the services' own producer (idempotent, acks=all) to a fresh topic read by one consumer.

    A first record, not counted, crosses before the clock starts (the fresh topic's leader
    elected, both clients connected); `ready` is set then, for a load to start alongside."""
    topic = f"tongban.bench.roundtrip.{uuid.uuid4().hex[:8]}"
    await ensure_topics(bootstrap_servers, [topic], partitions=partitions, security=security)
    consumer = await _assigned_consumer(
        bootstrap_servers, topic, from_beginning=True, security=security
    )
    producer = make_producer(bootstrap_servers, client_id="tongban-bench", security=security)
    await producer.start()
    sent: dict[int, float] = {}
    received: dict[int, float] = {}
    done = asyncio.Event()
    warmed = asyncio.Event()

    async def receive() -> None:
        while len(received) < count + 1:  # and the uncounted first one
            batches = await consumer.getmany(timeout_ms=200)
            now = time.perf_counter()
            for records in batches.values():
                for record in records:
                    if record.key is not None:
                        received[int(record.key)] = now
                        if record.key == WARM_UP:
                            warmed.set()
        done.set()

    receiver = asyncio.create_task(receive())
    try:
        await producer.send_and_wait(topic, value=b"{}", key=WARM_UP)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(warmed.wait(), timeout=30)
        if ready is not None:
            ready.set()
        began = time.perf_counter()
        for sequence in range(count):
            # Paced: each record at its own time, however long the previous one took.
            await asyncio.sleep(max(0.0, began + sequence * pause - time.perf_counter()))
            value = json.dumps({"sequence": sequence, "sent": time.time()}).encode()
            sent[sequence] = time.perf_counter()
            await producer.send_and_wait(topic, value=value, key=str(sequence).encode())
            if tick is not None:
                tick()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(done.wait(), timeout=30)
    finally:
        receiver.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await receiver
        await producer.stop()
        await consumer.stop()
    return [received[n] - sent[n] for n in sorted(received) if n in sent]
