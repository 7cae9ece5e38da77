"""Open-loop load on the registry for `make registry-scale`: the SQL of public verification and
of a window's print lookup, exactly as delivery runs it (usecases/verification.py,
usecases/printing.py, ratelimit.py), at a fixed rate, each request timed from when it was due."""

from __future__ import annotations

import asyncio
import hashlib
import random
import time
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from benchmarks.registry_data import code_of, number_of

# A delivery process's pool (DATABASE_POOL_SIZE) times the two processes of `make run SCALE=2`.
POOL_SIZE = 20
WARM_UP_SECONDS = 3.0

_RATE_LIMIT = """
INSERT INTO rate_limit_counters AS counter (key, hits, expires_at)
VALUES ($1, 1, now() + make_interval(secs => 60))
ON CONFLICT (key) DO UPDATE SET
    hits = CASE WHEN counter.expires_at <= now() THEN excluded.hits
                ELSE counter.hits + excluded.hits END,
    expires_at = CASE WHEN counter.expires_at <= now() THEN excluded.expires_at
                      ELSE counter.expires_at END
RETURNING hits
"""
_COUNT = """
UPDATE certificates SET verifications = verifications + 1, last_verified_at = now()
WHERE number = $1 AND kind = 'certificate' AND verification_code_digest = $2
RETURNING verifications
"""
_ROW = "SELECT * FROM certificates WHERE number = $1"
_LOCK = "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))"  # printing.lock_certificate
_WINDOW = "SELECT window_id FROM receiving_windows WHERE application_no = $1"
_PRINTS = "SELECT count(*) FROM certificate_prints WHERE certificate_no = $1"
_RECORD_PRINT = """
INSERT INTO certificate_prints (certificate_no, ordinal, reprint, printed_by, role, window_id,
    locality, printed_at)
VALUES ($1, $2, $3, 'clerk-bench', 'window_clerk', $4, $5, now())
"""


# The machine's own floor, paced the same: a round trip and a committed one-row insert (one WAL
# flush), touching nothing of the registry. What the routes add to it is the registry's part.
BASELINE_TABLE = """
CREATE TABLE IF NOT EXISTS registry_baseline (
    id bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT now())
"""
_BASELINE_INSERT = "INSERT INTO registry_baseline DEFAULT VALUES"
BASELINE = "bare: a committed one-row insert"


@dataclass
class Paced:
    name: str
    latencies: list[float] = field(default_factory=list)  # ms, from when each was due
    errors: int = 0
    achieved: float = 0.0
    first_error: str = ""
    round_p99s: list[float] = field(default_factory=list)  # each round's own p99, ms

    def add_round(self, measured: Paced) -> None:
        """Another round of the same route: its latencies pooled, its p99 kept apart."""
        rounds = len(self.round_p99s)
        self.achieved = (self.achieved * rounds + measured.achieved) / (rounds + 1)
        self.latencies += measured.latencies
        self.errors += measured.errors
        self.first_error = self.first_error or measured.first_error
        self.round_p99s.append(percentile(measured.latencies, 99))

    def summary(self) -> dict[str, Any]:
        return {
            "route": self.name,
            "requests": len(self.latencies),
            "errors": self.errors,
            "achieved_per_second": round(self.achieved, 1),
            "p50_ms": round(percentile(self.latencies, 50), 3),
            "p99_ms": round(percentile(self.latencies, 99), 3),
            "max_ms": round(max(self.latencies, default=0.0), 3),
            "p99_ms_by_round": [round(p99, 3) for p99 in self.round_p99s],
        }


def percentile(values: list[float], p: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def verification(connection: asyncpg.Connection, i: int) -> None:
    await connection.fetchval(_RATE_LIMIT, f"verify:203.0.113.{i % 250}")
    async with connection.transaction():
        count = await connection.fetchval(
            _COUNT, number_of(i), hashlib.sha256(code_of(i).encode()).hexdigest()
        )
        row = await connection.fetchrow(_ROW, number_of(i))
    if count is None or row is None:
        raise LookupError(f"{number_of(i)} not found with its code")


async def print_lookup(connection: asyncpg.Connection, i: int) -> None:
    number = number_of(i)
    async with connection.transaction():
        await connection.execute(_LOCK, f"certificate:{number}")
        row = await connection.fetchrow(_ROW, number)
        if row is None:
            raise LookupError(f"{number} not found")
        window = await connection.fetchval(_WINDOW, row["application_no"])
        previous = await connection.fetchval(_PRINTS, number)
        ordinal = int(previous or 0) + 1
        await connection.execute(
            _RECORD_PRINT, number, ordinal, ordinal > 1, window, row["issuer_locality"]
        )


async def bare_commit(connection: asyncpg.Connection, i: int) -> None:
    async with connection.transaction():
        await connection.execute(_BASELINE_INSERT)


ROUTES = {
    BASELINE: bare_commit,
    "public verification": verification,
    "window's print lookup": print_lookup,
}


async def measure_route(dsn: str, name: str, rows: int, *, rate: float, seconds: float) -> Paced:
    """`rate` requests a second for WARM_UP_SECONDS + `seconds`, numbers drawn uniformly from
    the `rows` generated; only those due after the warm-up are kept."""
    work = ROUTES[name]
    result = Paced(name)
    pool = await asyncpg.create_pool(dsn, min_size=POOL_SIZE, max_size=POOL_SIZE)
    assert pool is not None
    tasks: set[asyncio.Task[None]] = set()

    async def one(due: float, keep: bool) -> None:
        try:
            async with pool.acquire() as connection:
                await work(connection, random.randrange(rows))
        except (asyncpg.PostgresError, LookupError, OSError) as error:
            if keep:
                result.errors += 1
                result.first_error = result.first_error or str(error)
            return
        if keep:
            result.latencies.append((time.perf_counter() - due) * 1000)

    try:
        began = time.perf_counter()
        end = began + WARM_UP_SECONDS + seconds
        due = began
        sent = 0
        while due < end:
            keep = due >= began + WARM_UP_SECONDS
            task = asyncio.create_task(one(due, keep))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            sent += keep
            due += 1 / rate
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
        if tasks:
            await asyncio.wait(tasks, timeout=60)
        result.achieved = sent / seconds
    finally:
        await pool.close()
    return result
