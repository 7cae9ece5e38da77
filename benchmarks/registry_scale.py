"""`make registry-scale`: delivery's certificate registry at a tenth of Anhui's size, measured.

    make registry-scale                                   # 3.2 × 10⁷ certificates, then measure
    make registry-scale REGISTRY_ARGS=--measure-only      # the kept data again, about two minutes
    make registry-scale REGISTRY_ARGS='--rows 1000000'    # a smaller registry
    .venv/bin/python -m benchmarks.registry_scale --help

A PostgreSQL cluster of its own (kept in .tongban/registry-scale, or /var/tmp when the postgres
account cannot reach there) with delivery's migrated schema and its registry tables
hash-partitioned (benchmarks/registry_data.py says why). Then, open-loop at a fixed rate (each
request timed from when it was due, so a slow answer delays none of the next), the exact SQL of
the two routes a user waits on, with numbers drawn at random from the whole registry:

- public verification (GET /v1/certificates/{no}/verify, usecases/verification.py): the rate
  limiter's upsert, then in one transaction the counting UPDATE … RETURNING by number, kind and
  code digest and the row by number;
- a window's print lookup (GET /v1/certificates/{no}.pdf, usecases/printing.py): in one
  transaction the certificate's lock (an advisory lock on its number), the row by number, its
  receiving window, its earlier prints counted, and the print recorded (the PDF's rendering, a
  second of CPU, is not the registry's part).

Before them, every index of the registry is read once into the operating system's cache, as on
a server that has been answering for a while (the heap is not), and a bare baseline runs at the
same rate: a committed one-row insert beside the registry, the floor this machine gives any
committed write; what the routes add to it is the registry's part.

The SQL rather than the routes: a route's answer also checks the issuer's SM2 seal over each row,
which generated rows cannot carry, and renders a PDF; neither depends on the registry's size.
Then the projection to 3.21 × 10⁸: B-tree depth (pageinspect's bt_metap) of the number's index
at 10⁶, 10⁷ and 3.2 × 10⁷ entries, partition pruning (EXPLAIN), and bytes per row. The exit
status is 1 when a route's p99 (not the baseline's) is not under --target-ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import asyncpg
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from benchmarks import registry_data as data
from benchmarks.registry_load import (
    BASELINE,
    BASELINE_TABLE,
    ROUTES,
    Paced,
    measure_route,
    percentile,
)
from shared.db.migrations import upgrade

FULL_SIZE = 321_000_000
DEPTH_SIZES = (1_000_000, 10_000_000, 32_000_000)
TABLES = ("certificates", "receiving_windows", "certificate_prints")


def arguments(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="make registry-scale", description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=32_000_000, help="certificates to generate")
    parser.add_argument("--partitions", type=int, default=32, help="hash partitions per table")
    parser.add_argument("--measure-only", action="store_true", help="measure the kept data")
    parser.add_argument(
        "--resume",
        action="store_true",
        help="an interrupted generation: keep its committed rows, build the missing indexes "
        "(not the prints' foreign key)",
    )
    parser.add_argument("--rate", type=float, default=200.0, help="requests per second")
    parser.add_argument("--seconds", type=float, default=20.0, help="measured per route and round")
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="the routes in turn, this many times (this shared machine's disk has bad minutes: "
        "one round can be unlucky, so each round's p99 is shown beside the pooled one)",
    )
    parser.add_argument("--target-ms", type=float, default=20.0, help="p99 to stay under")
    parser.add_argument(
        "--directory", type=Path, default=data.REPO_ROOT / ".tongban" / "registry-scale"
    )
    return parser.parse_args(argv)


async def _prepare_database(cluster: data.Cluster) -> None:
    admin = await asyncpg.connect(cluster.dsn.rsplit("/", 1)[0] + "/postgres")
    try:
        if not await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", data.DATABASE):
            await admin.execute(f"CREATE DATABASE {data.DATABASE}")
    finally:
        await admin.close()
    url = cluster.dsn.replace("postgresql://", "postgresql+asyncpg://")
    await asyncio.to_thread(upgrade, "delivery", url)
    connection = await asyncpg.connect(cluster.dsn)
    try:
        await connection.execute("CREATE EXTENSION IF NOT EXISTS pageinspect")
        for table in TABLES:  # the migrated tables become the partitioned ones' templates
            if not await connection.fetchval("SELECT to_regclass($1)", f"{table}_plain"):
                await connection.execute(f"ALTER TABLE {table} RENAME TO {table}_plain")
    finally:
        await connection.close()


async def generate(cluster: data.Cluster, options: argparse.Namespace, console: Console) -> dict:
    connection = await asyncpg.connect(cluster.dsn, command_timeout=None)
    timings: dict[str, float] = {}
    columns = [
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:,.0f}/{task.total:,.0f}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    ]
    try:
        began = time.monotonic()
        resumed = options.resume and await data.rows_committed(connection)
        if resumed:
            console.print("rows of the interrupted generation kept; building what is missing")
        else:
            await _rows(connection, options, columns)
        timings["rows"] = time.monotonic() - began
        for name, statement in data.INDEXES:
            if options.resume and await data.step_done(connection, name):
                console.print(f"  {name}: there already")
                continue
            if options.resume and name == data.FOREIGN_KEY_STEP:
                # Resumed: left out. PostgreSQL 15 cannot add it NOT VALID on a partitioned
                # table, checking the generated rows is an hour of this machine, and no lookup
                # uses it.
                console.print(f"  {name}: left out (resumed)")
                continue
            with console.status(f"building {name}…"):
                started = time.monotonic()
                await connection.execute(statement)
                timings[name] = time.monotonic() - started
            console.print(f"  {name}: {timings[name]:.0f} s")
        await connection.execute("CHECKPOINT")
        timings["total"] = time.monotonic() - began
        depths = await _depths(connection, options.rows, console)
    finally:
        await connection.close()
    return {"rows": options.rows, "partitions": options.partitions, "seconds": timings} | {
        "depths": depths,
        "resumed": resumed,
    }


async def _rows(
    connection: asyncpg.Connection, options: argparse.Namespace, columns: list[Any]
) -> None:
    """The rows, in one transaction (the tables made in it, so no WAL is written for them)."""
    with Progress(*columns) as progress:
        task = progress.add_task("certificates and their windows, prints", total=options.rows)
        async with connection.transaction():
            await connection.execute("SET LOCAL synchronous_commit = off")
            for statement in data.partitioned_schema(options.partitions):
                await connection.execute(statement)
            for lo, hi in data.chunks(options.rows):
                for statement in (
                    data.CERTIFICATES,
                    data.RECEIVING_WINDOWS,
                    data.CERTIFICATE_PRINTS,
                ):
                    await connection.execute(statement, lo, hi)
                progress.update(task, completed=hi)


async def _depths(connection: asyncpg.Connection, rows: int, console: Console) -> dict[str, int]:
    """The B-tree levels below the root of an unpartitioned index on the first n numbers: what
    one partition's index has at n entries (bt_metap's level: 0 = the root is a leaf)."""
    depths: dict[str, int] = {}
    for size in (s for s in DEPTH_SIZES if s <= rows):
        with console.status(f"index depth at {size:,} numbers…"):
            await connection.execute("DROP TABLE IF EXISTS depth_probe")
            await connection.execute(
                "CREATE UNLOGGED TABLE depth_probe AS "
                "SELECT number FROM certificates WHERE number IS NOT NULL LIMIT $1",
                size,
            )
            await connection.execute("CREATE INDEX depth_probe_number ON depth_probe (number)")
            depths[str(size)] = await connection.fetchval(
                "SELECT level FROM bt_metap('depth_probe_number')"
            )
            await connection.execute("DROP TABLE depth_probe")
    return depths


async def _sizes(connection: asyncpg.Connection) -> dict[str, dict[str, int]]:
    sizes: dict[str, dict[str, int]] = {}
    for table in TABLES:
        row = await connection.fetchrow(
            """
            SELECT count(*) AS partitions,
                   sum(pg_table_size(inhrelid)) AS heap,
                   sum(pg_indexes_size(inhrelid)) AS indexes,
                   sum(c.reltuples)::bigint AS rows
              FROM pg_inherits JOIN pg_class c ON c.oid = inhrelid
             WHERE inhparent = $1::regclass
            """,
            table,
        )
        sizes[table] = {k: int(row[k] or 0) for k in ("partitions", "heap", "indexes", "rows")}
    return sizes


async def _partition_levels(connection: asyncpg.Connection) -> int:
    """The deepest of the number index's partitions, as loaded."""
    names = await connection.fetch(
        "SELECT indexrelid::regclass::text AS name FROM pg_index JOIN pg_inherits "
        "ON inhrelid = indrelid WHERE inhparent = 'certificates'::regclass AND indisprimary"
    )
    levels = [
        await connection.fetchval(f"SELECT level FROM bt_metap('{r['name']}')") for r in names
    ]
    return max(levels, default=0)


async def _explain(connection: asyncpg.Connection, number: str, application_no: str) -> list[str]:
    lines = ["-- by number (verification, print): one partition of the certificates"]
    plan = await connection.fetch(
        "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) "
        "SELECT * FROM certificates WHERE number = $1",
        number,
    )
    lines += [r[0] for r in plan]
    await connection.execute(
        "PREPARE by_number(varchar) AS SELECT * FROM certificates WHERE number = $1"
    )
    await connection.execute("SET plan_cache_mode = force_generic_plan")
    plan = await connection.fetch(
        f"EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) EXECUTE by_number('{number}')"
    )
    lines += ["-- the same as a generic prepared plan: pruned when it runs"] + [r[0] for r in plan]
    await connection.execute("RESET plan_cache_mode")
    plan = await connection.fetch(
        "EXPLAIN (COSTS OFF) SELECT number FROM certificates WHERE application_no = $1",
        application_no,
    )
    lines += ["-- by application_no (not on a user's path): every partition's index"]
    lines += [*[r[0] for r in plan][:6], "   …"]
    return lines


async def _prewarm(cluster: data.Cluster) -> dict[str, float]:
    """Every index of the registry read once into the operating system's cache (pg_prewarm's
    'read' mode), as they are on a server that has answered lookups for a while: a lookup then
    waits on the disk for its heap pages only, not also for the index pages a cold start (the
    cluster was just started) would fetch one at a time. The heap (30 GB here) is not warmed."""
    connection = await asyncpg.connect(cluster.dsn, command_timeout=None)
    try:
        await connection.execute("CREATE EXTENSION IF NOT EXISTS pg_prewarm")
        indexes = await connection.fetch(
            "SELECT indexrelid::regclass::text AS name, pg_relation_size(indexrelid) AS size "
            "FROM pg_index JOIN pg_inherits ON inhrelid = indrelid "
            "WHERE inhparent::regclass::text = ANY($1::text[]) ORDER BY 1",
            list(TABLES),
        )
        began = time.monotonic()
        with Progress(
            TextColumn("indexes into the OS cache"), BarColumn(), TimeElapsedColumn()
        ) as progress:
            task = progress.add_task("", total=sum(r["size"] for r in indexes))
            for index in indexes:
                await connection.fetchval("SELECT pg_prewarm($1::regclass, 'read')", index["name"])
                progress.advance(task, index["size"])
        await connection.execute(BASELINE_TABLE)
    finally:
        await connection.close()
    return {"bytes": sum(r["size"] for r in indexes), "seconds": time.monotonic() - began}


def _gb(size: float) -> str:
    return f"{size / 2**30:.1f} GB"


def report(console: Console, facts: dict, results: list[Paced], options: argparse.Namespace) -> int:
    generation = facts.get("generation") or {}
    if generation:
        seconds = generation["seconds"]
        made = (
            "the rows before an interruption, then (--resume) the missing steps in "
            f"{seconds['total']:.0f} s"
            if generation.get("resumed")
            else f"rows {seconds['rows']:.0f} s, whole load with indexes {seconds['total']:.0f} s"
        )
        console.print(
            f"generated {generation['rows']:,} certificates in "
            f"{generation['partitions']} hash partitions: {made}"
        )
    sizes = facts["sizes"]
    table = Table(title="the registry's tables (sum over partitions)")
    for column in ("table", "partitions", "rows", "heap", "indexes", "bytes/row", "at 3.21×10⁸"):
        table.add_column(column, justify="left" if column == "table" else "right")
    rows = max(sizes["certificates"]["rows"], 1)
    total_full = 0.0
    for name, size in sizes.items():
        per_row = (size["heap"] + size["indexes"]) / rows  # per certificate
        total_full += per_row * FULL_SIZE
        table.add_row(
            name,
            str(size["partitions"]),
            f"{size['rows']:,}",
            _gb(size["heap"]),
            _gb(size["indexes"]),
            f"{per_row:.0f}",
            _gb(per_row * FULL_SIZE),
        )
    console.print(table)
    console.print(
        f"disk for the registry at 3.21 × 10⁸ certificates: {_gb(total_full)} (no WAL, no replicas)"
    )
    depths = generation.get("depths", {})
    per_partition = FULL_SIZE // int(generation.get("partitions", options.partitions))
    console.print(
        "B-tree levels below the root (bt_metap.level) of the number's index: "
        + ", ".join(f"{int(n):,} entries: {d}" for n, d in depths.items())
        + f"; each partition's primary key now: {facts['partition_levels']}; "
        f"at full size each of the partitions holds {per_partition:,}"
    )
    for line in facts["explain"]:
        console.print(f"  {line}", markup=False, highlight=False)
    if warmed := facts.get("prewarmed"):
        console.print(
            f"indexes read into the OS cache before measuring: {_gb(warmed['bytes'])} in "
            f"{warmed['seconds']:.0f} s (the heap is not; a lookup reads its rows from disk)"
        )
    latencies = Table(
        title=f"open loop at {options.rate:.0f} requests/s, numbers at random, "
        f"{options.rounds} rounds of {options.seconds:.0f} s, pooled"
    )
    columns = ("route (its SQL)", "requests", "achieved/s", "p50 ms", "p99 ms", "max ms")
    for column in (*columns, "p99 ms by round"):
        latencies.add_column(column, justify="left" if column.startswith("route") else "right")
    failed = False
    for result in results:
        p99 = percentile(result.latencies, 99)
        if result.name != BASELINE:
            failed |= p99 >= options.target_ms or bool(result.errors)
        latencies.add_row(
            result.name,
            f"{len(result.latencies):,} ({result.errors} errors)",
            f"{result.achieved:.0f}",
            f"{percentile(result.latencies, 50):.2f}",
            f"[{'red' if p99 >= options.target_ms else 'green'}]{p99:.2f}[/]",
            f"{max(result.latencies, default=0):.1f}",
            ", ".join(f"{p99:.1f}" for p99 in result.round_p99s),
        )
    console.print(latencies)
    return 1 if failed else 0


async def measure(
    cluster: data.Cluster, options: argparse.Namespace, rows: int
) -> tuple[dict, list[Paced]]:
    connection = await asyncpg.connect(cluster.dsn)
    try:
        sample = random.randrange(rows)
        application_no = await connection.fetchval(
            "SELECT application_no FROM certificates WHERE number = $1", data.number_of(sample)
        )
        facts = {
            "sizes": await _sizes(connection),
            "partition_levels": await _partition_levels(connection),
            "explain": await _explain(connection, data.number_of(sample), application_no),
        }
    finally:
        await connection.close()
    facts["prewarmed"] = await _prewarm(cluster)
    results = {route: Paced(route) for route in ROUTES}
    for _ in range(options.rounds):
        for route, pooled in results.items():
            pooled.add_round(
                await measure_route(
                    cluster.dsn, route, rows, rate=options.rate, seconds=options.seconds
                )
            )
    return facts, list(results.values())


def main(argv: Sequence[str] | None = None) -> None:
    options = arguments(argv)
    console = Console()
    cluster = data.Cluster(options.directory)
    console.print(f"registry cluster: {cluster.directory}")
    saved = cluster.directory / "generation.json"
    cluster.start()
    try:
        asyncio.run(_prepare_database(cluster))
        if options.measure_only:
            if not saved.exists():
                console.print("[red]nothing generated yet: run without --measure-only first[/]")
                raise SystemExit(2)
            generation = json.loads(saved.read_text())
        else:
            generation = asyncio.run(generate(cluster, options, console))
            saved.write_text(json.dumps(generation, indent=2))
        facts, results = asyncio.run(measure(cluster, options, generation["rows"]))
        facts["generation"] = generation
        outcome = report(console, facts, results, options)
        summary = {**facts, "latency": [r.summary() for r in results]}
        (cluster.directory / "measured.json").write_text(json.dumps(summary, indent=2, default=str))
        console.print(f"figures kept in {cluster.directory / 'measured.json'}")
    finally:
        cluster.stop()
    raise SystemExit(outcome)


if __name__ == "__main__":
    main()
