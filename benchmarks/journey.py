"""Benchmark: intake against a bare FastAPI + asyncpg floor, the pipeline behind it, and the
journey to an open case against a raw Kafka round trip, on the real stack (Kafka, PostgreSQL
and the four services as processes) on this machine.

    make bench                                   # about 7 minutes on 2 cores
    .venv/bin/python -m benchmarks.journey --quick  # about a minute once the stack is up
    .venv/bin/python -m benchmarks.journey --round-seconds 15 --rounds 3
    .venv/bin/python -m benchmarks.journey --help  # every duration and count
    make bench BENCH_ARGS='--scale --quick'  # instead: each service's ×2/×1 (benchmarks/scale.py)

In one run, side by side:

1. the load generator's own ceiling (GET /healthz of the bare app, 32 connections);
2. throughput at saturation, 32 connections: `POST /v1/applications` of intake and of a bare
   FastAPI + asyncpg endpoint that this benchmark starts itself (benchmarks/bare_insert.py, its
   own database on the same PostgreSQL server, a pool as large as intake's), the same body, in
   alternating rounds; requests/s, p50/p99, errors, the CPU each process used, intake/bare;
3. the pipeline: from a quiet pipeline, a saturation round of intake, then until its last case
   opened: cases opened per second while windows post (the most in any 10 s, and the steady
   rate), the backlog's drain rate, and the CPU each process spent per application; again with
   routing, approval and delivery paused during the round (SIGSTOP, then SIGCONT): intake
   alone, and a whole round's backlog drained by an unhindered pipeline;
4. a flame graph of each service (py-spy, SVG under .tongban/bench/) during a saturation round
   of its own;
5. two intake processes sharing the 32 connections, against one;
6. exactly once: every application accepted in the run has one case in approval's database
   and one gov.tongban.case.opened.v1 event on tongban.approval.events;
7. one connection, request after request: the latency of both endpoints;
8. paced load (20 applications/s, open loop): accepted → case open (`opened_at` of the event
   minus `accepted_at` of the 201 answer) against raw producer → consumer round trips on the
   same broker at the same pace and moments;
9. the targets of issue 18 beside the figures, and a PNG of every request's latency over the
   run, under .tongban/bench/.

Figures are printed, never asserted: a slow or failed target fails nothing; the exit status
is non-zero only when the stack or the benchmark itself cannot run.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import subprocess
import time
from collections.abc import Sequence

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)

from benchmarks import phases, scale
from benchmarks.bench import Bench
from benchmarks.plot import latency_plot
from benchmarks.processes import REPO_ROOT, WORK_DIR, bare_app
from benchmarks.report import report
from tooling.stack import running_stack

# --quick: every phase, briefly, to try the benchmark out (about a minute once the stack is
# up); the figures are too short to quote.
QUICK = {
    "ceiling_seconds": 2.0,
    "warmup_seconds": 1.0,
    "round_seconds": 4.0,
    "rounds": 1,
    "pipeline_seconds": 4.0,
    "alone_seconds": 4.0,
    "profile_seconds": 3.0,
    "scale_out_seconds": 0.0,
    "sequential": 40,
    "paced_seconds": 5.0,
    "settle_seconds": 8.0,
    "drain_timeout": 60.0,
}


def arguments(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add = parser.add_argument
    add("--quick", action="store_true", help="every phase briefly, to try it (about 1 minute)")
    add(
        "--scale",
        action="store_true",
        help="instead: each service's rate with two instances over one, on make run SCALE=2's "
        "stack (benchmarks/scale.py; with --quick, shorter rounds)",
    )
    add("--connections", type=int, default=32, help="connections at saturation (32)")
    add("--round-seconds", type=float, default=12.0, help="length of one saturation round (12)")
    add("--rounds", type=int, default=2, help="bare/intake round pairs, alternating (2)")
    add("--warmup-seconds", type=float, default=2.0, help="unreported warm-up per endpoint (2)")
    add("--ceiling-seconds", type=float, default=4.0, help="load generator ceiling run (4)")
    add(
        "--pipeline-seconds",
        type=float,
        default=12.0,
        help="intake round whose cases the pipeline opens while posting, then drains; 0 skips (12)",
    )
    add(
        "--alone-seconds",
        type=float,
        default=12.0,
        help="intake round with routing, approval and delivery paused, a backlog they then "
        "drain; 0 skips (12)",
    )
    add(
        "--profile-seconds",
        type=float,
        default=10.0,
        help="intake round during which py-spy records each service; 0 skips (10)",
    )
    add("--scale-out-seconds", type=float, default=12.0, help="two-intake round; 0 skips (12)")
    add("--sequential", type=int, default=200, help="one-connection requests per endpoint (200)")
    add("--paced-rate", type=float, default=20.0, help="paced load, applications/s (20)")
    add("--paced-seconds", type=float, default=15.0, help="paced load duration (15)")
    add(
        "--drain-timeout",
        type=float,
        default=120.0,
        help="wait for every case (and for a pipeline round's drain), seconds (120)",
    )
    add(
        "--settle-seconds",
        type=float,
        default=15.0,
        help="before each round, wait up to this long until routing and approval have opened "
        "the case of every application accepted so far, so that no round pays for the "
        "previous one's backlog (15)",
    )
    add("--request-timeout", type=float, default=10.0, help="one request, seconds (10)")
    if parser.parse_known_args(argv)[0].quick:
        parser.set_defaults(**QUICK)  # what is given explicitly still wins
    return parser.parse_args(argv)


# ---------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> None:
    options = arguments(argv)
    # A fresh topic's first fetches meet a leader election; aiokafka retries them and logs
    # ERROR lines that are no failure. A real failure surfaces as an exception.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    console = Console(stderr=True)
    out = Console() if Console().is_terminal else Console(width=160)
    began = time.monotonic()
    if options.scale:
        scale_main(options.quick, console, out)
        out.print(f"whole benchmark: {time.monotonic() - began:.0f} s")
        return
    with running_stack(console) as stack, bare_app(stack, console) as (port, process):
        progress = Progress(
            TextColumn("{task.description:<40}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        )
        bench = Bench(stack, port, process, options, progress)
        with progress:
            figures = asyncio.run(phases.run(bench))
        stack.check_alive()
    out.print()
    report(figures, options, bench.databases, out)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    revision = subprocess.run(
        ["git", "-C", str(REPO_ROOT), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    path = latency_plot(
        figures.results,
        figures.origin,
        WORK_DIR / "bench" / f"latency-{stamp}.png",
        f"Request latency over one `make bench` run ({REPO_ROOT.name} at {revision or '?'} "
        f"and its working tree, {stamp})",
    )
    out.print(f"\nlatency plot: {path}")
    out.print(f"whole benchmark: {time.monotonic() - began:.0f} s")


def scale_main(quick: bool, console: Console, out: Console) -> None:
    """×2/×1 of each service (benchmarks/scale.py), on a stack with two instances of each."""
    # A paused instance keeps its partitions: no rebalance on the clock (benchmarks/scale.py).
    os.environ["KAFKA_SESSION_TIMEOUT_MS"] = str(scale.SESSION_TIMEOUT_MS)
    options = scale.QUICK if quick else scale.ScaleOptions()
    with running_stack(console, scale=2) as stack:
        rows = asyncio.run(scale.ScaleBench(stack, options, console).run())
        stack.check_alive()
    out.print()
    scale.report(rows, out)


if __name__ == "__main__":
    main()
