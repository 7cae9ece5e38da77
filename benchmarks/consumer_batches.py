"""CPU per consumed record in one ConsumerRunner, on a real PostgreSQL: what a transaction per
record costs against one per fetched batch.

The runner reads from a stand-in for its Kafka consumer that hands out prebuilt records 50 at
a time (as `getmany` does under load) and takes commits without a broker, so the figure is the
runner's own work: envelope, spans, inbox, the handler's effect, the transaction. Two handlers:
`outbox` (each event writes one event to the outbox, like routing's and approval's) and
`ledger` (routing's audit ledger: lock, head, SM3 chain and SM2 signature per entry).

    python -m benchmarks.consumer_batches --records 2000

Starts a PostgreSQL of its own (or uses DATABASE_URL), and prints CPU ms per record.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import uuid
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any, cast

from aiokafka import AIOKafkaProducer, ConsumerRecord, TopicPartition

from benchmarks.cpu import snapshot
from shared import clock
from shared.db import Database
from shared.db.migrations import upgrade_async
from shared.messaging import events
from shared.messaging.consumer import ConsumerRunner, EventContext
from shared.messaging.envelope import Envelope
from shared.messaging.outbox import Outbox
from shared.settings import Settings, with_database
from shared.telemetry import setup_telemetry
from tooling.infra import ensure_databases_async, local_infrastructure
from tooling.kafka_access import tongban_acl_table

TOPIC = "tongban.bench.consumer"
FETCH = 50


class Fetches:
    """Stands in for the runner's AIOKafkaConsumer: the records in fetches of `FETCH`, then
    nothing, and then `stopping` is set: the run ends once the last fetch was handled."""

    def __init__(self, records: Sequence[ConsumerRecord[bytes, bytes]], stopping: asyncio.Event):
        self.records = list(records)
        self.stopping = stopping
        self.partition = TopicPartition(TOPIC, 0)
        self.committed = 0

    async def getmany(
        self, timeout_ms: int = 0, max_records: int = FETCH
    ) -> dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]]:
        batch, self.records = self.records[:max_records], self.records[max_records:]
        if not batch:
            self.stopping.set()
            return {}
        return {self.partition: batch}

    def assignment(self) -> set[TopicPartition]:
        return {self.partition}

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.committed = offsets[self.partition]


def case_opened(number: str) -> events.CaseOpened:
    return events.CaseOpened(
        application_no=number, locality="340100", deadline=date.today(), opened_at=clock.now()
    )


def records(count: int) -> list[ConsumerRecord[bytes, bytes]]:
    made = []
    for offset in range(count):
        envelope = Envelope.new(case_opened(f"TBBENCH{offset:09d}"), source="/bench")
        key, value, headers = envelope.to_kafka()
        made.append(
            ConsumerRecord(TOPIC, 0, offset, 0, 0, key, value, None, len(key), len(value), headers)
        )
    return made


async def measure(db: Database, settings: Settings, kind: str, count: int) -> tuple[float, float]:
    """CPU seconds per record of one runner handling `count` records with handler `kind`: of
    this process, and of the PostgreSQL server (when this process started it)."""
    outbox = Outbox("/bench")
    if kind == "ledger":
        from services.routing.consumers import ledger_subscription
        from services.routing.usecases.ledger import TailGuard, entry_macs

        subscription = ledger_subscription(TailGuard(entry_macs(settings.key_ring())))
        handlers: Any = subscription.by_type
    else:

        async def publish(event: events.CaseOpened, ctx: EventContext) -> None:
            await ctx.publish(event)

        handlers = {events.CaseOpened.event_type: publish}
    stopping = asyncio.Event()
    runner = ConsumerRunner(
        name=f"bench-{kind}-{uuid.uuid4().hex[:6]}",
        topics=[TOPIC],
        handlers=handlers,
        db=db,
        outbox=outbox,
        producer=cast(AIOKafkaProducer, None),
        telemetry=setup_telemetry("bench"),
        bootstrap_servers="127.0.0.1:9",
    )
    fetches = Fetches(records(count), stopping)
    runner.consumer = cast(Any, fetches)
    server = snapshot(time.perf_counter(), {}).seconds.get("postgresql", 0.0)
    began = time.process_time()
    await runner.run(stopping)
    spent = time.process_time() - began
    server = snapshot(time.perf_counter(), {}).seconds.get("postgresql", 0.0) - server
    assert fetches.committed == count, fetches.committed
    return spent / count, server / count


async def main(count: int, kinds: Sequence[str], rounds: int) -> None:
    with local_infrastructure(acl_table=tongban_acl_table(), kafka=False) as infra:
        await ensure_databases_async(infra.database_url, ["tongban_bench_consumer"], recreate=True)
        url = with_database(infra.database_url, "tongban_bench_consumer")
        await upgrade_async("routing", url)
        keys = Path(tempfile.mkdtemp(prefix="bench-keys-"))
        settings = Settings(tongban_env="development", key_ring_dir=str(keys))
        db = Database(url)
        try:
            await measure(db, settings, "outbox", 200)  # warm up: pool, statement caches
            for kind in kinds:
                figures = [await measure(db, settings, kind, count) for _ in range(rounds)]
                runner, server = (1000 * seconds for seconds in min(figures))
                print(
                    f"{kind:7s} {count} records, ms CPU per record (best of {rounds}): "
                    f"runner {runner:.3f}, PostgreSQL {server:.3f}"
                )
        finally:
            await db.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--kind", action="append", choices=["outbox", "ledger"])
    arguments = parser.parse_args()
    asyncio.run(main(arguments.records, arguments.kind or ["outbox", "ledger"], arguments.rounds))
