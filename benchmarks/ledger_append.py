"""CPU time of routing's audit-ledger appends, per entry, against a real PostgreSQL: one entry
per transaction (as a consumer handling one record per transaction does) and a batch of entries
per transaction (as the batched consumer runner does), plus a checkpoint signed and put in the
outbox. Only this process's CPU is counted (time.process_time): the Python side of each append;
PostgreSQL's share is not in it.

    python -m benchmarks.ledger_append [--entries 2000] [--batch 50]

Starts PostgreSQL alone with the project's launcher (DATABASE_URL, if set, is used instead) and
appends into a fresh database `tongban_bench_ledger`, dropped and made again at each run.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import text

from services.routing.usecases import ledger
from shared.audit.ledger import PublishedCheckpoints
from shared.audit.verification import verify_ledger
from shared.crypto.keyring import KeyRing
from shared.crypto.personal import PersonalData
from shared.db import Database
from shared.db.migrations import upgrade
from shared.messaging import events, topics
from shared.messaging.envelope import Envelope
from shared.messaging.outbox import Outbox
from shared.settings import with_database
from tooling.infra import ensure_databases, local_infrastructure
from tooling.kafka_access import tongban_acl_table

DATABASE = "tongban_bench_ledger"


def viewed(n: int) -> tuple[Envelope, ledger.Read]:
    envelope = Envelope.new(
        events.CaseViewed(
            application_no=f"TB-BENCH-{n:07d}",
            locality="340100",
            viewed_by="approver-340100",
            viewer_locality="340100",
            viewed_at=datetime(2026, 3, 2, 1, tzinfo=UTC),
        ),
        source="/tongban/approval",
    )
    return envelope, ledger.Read(topics.APPROVAL_EVENTS, n % 3, n, b'{"n": %d}' % n)


async def measure(url: str, entries: int, batch: int) -> None:
    with tempfile.TemporaryDirectory() as keys:
        ring = KeyRing(keys, "bench", development=True)
        signer = ring.signer("routing")
        guard = ledger.TailGuard(ledger.entry_macs(ring))
        outbox = Outbox("/tongban/routing", personal=PersonalData(ring, service="routing"))
        database = Database(url, pool_size=2)
        made = (viewed(n) for n in range(10 * entries))
        try:
            started = time.process_time()
            for _ in range(entries // 10):
                async with database.transaction() as session:
                    await session.execute(text("SELECT 1"))
            spent = time.process_time() - started
            print(f"{'a bare transaction':28} {1e3 * spent / (entries // 10):7.3f} ms CPU each")
            rounds = (
                ("one entry per transaction", 1, 1),
                (f"{batch} per transaction", batch, batch),
                # The ledger's consumer: a fetched batch in one transaction, record by record.
                (f"{batch} one by one per tx", batch, 1),
            )
            for label, size, each in rounds:
                # A warm-up round first (connections, statement caches), then the measured one.
                for measured in (False, True):
                    started = time.process_time()
                    for _ in range(0, entries if measured else max(entries // 10, size), size):
                        async with database.transaction() as session:
                            for _ in range(0, size, each):
                                await ledger.append_many(
                                    session, [next(made) for _ in range(each)], guard
                                )
                    spent = time.process_time() - started
                if measured:
                    print(f"{label:28} {1e3 * spent / entries:7.3f} ms CPU per entry")
            started = time.process_time()
            checkpoints = 20
            for _ in range(checkpoints):
                async with database.transaction() as session:
                    await ledger.append_many(session, [next(made) for _ in range(batch)], guard)
                async with database.transaction() as session:
                    await ledger.checkpoint_ledger(session, outbox, signer, guard)
            spent = time.process_time() - started
            per_round, per_entry = 1e3 * spent / checkpoints, 1e3 * spent / (checkpoints * batch)
            print(
                f"{batch} appended + checkpoint   {per_round:7.3f} ms CPU per round "
                f"({per_entry:.3f} ms per entry)"
            )
            # Routing's background verification (and `tongban audit verify`): the whole chain
            # recomputed, every format 1 signature checked.
            async with database.transaction() as session:
                started = time.process_time()
                result = await verify_ledger(session, ring, PublishedCheckpoints())
                spent = time.process_time() - started
            assert result.ok, result.problem
            checked = result.verdict.checked
            print(f"{'verified, whole chain':28} {1e3 * spent / checked:7.3f} ms CPU per entry")
        finally:
            await database.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        with local_infrastructure(Path(work), acl_table=tongban_acl_table(), kafka=False) as infra:
            ensure_databases(infra.database_url, [DATABASE], recreate=True)
            url = with_database(infra.database_url, DATABASE)
            upgrade("routing", url)
            asyncio.run(measure(url, args.entries, args.batch))


if __name__ == "__main__":
    main()
