"""The benchmark's phases, in the order one run plays them (benchmarks/journey.py lists what
each measures)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from datetime import UTC, datetime

from benchmarks import cpu, flame
from benchmarks.bench import Bench
from benchmarks.figures import Cycle, Figures
from benchmarks.hops import hop_breakdown
from benchmarks.kafka_probe import CaseOpenedWatcher, raw_round_trip
from benchmarks.loadgen import LoadResult, Sample, Sequential, Target, get_request, paced
from benchmarks.pipeline import pipeline_rates
from benchmarks.processes import HOST, WORK_DIR, paused, start_second_intake
from shared.messaging.kafka import client_security
from tooling.infra import stop_processes
from tooling.journey import Journey

DOWNSTREAM = ("routing", "approval", "delivery")
SERVICES = ("intake", *DOWNSTREAM)
# Before a pipeline round, each process's idle CPU is measured over this long.
IDLE_SECONDS = 2.0
# A pipeline round starts, and ends, once the services have been quiet this long: routing's
# ledger records every event of every topic after the last case opened.
QUIET_SECONDS = 2.0


async def run(bench: Bench) -> Figures:
    try:
        return await _run(bench)
    finally:
        await bench.close()


async def _run(bench: Bench) -> Figures:
    options, figures = bench.options, bench.figures
    # The applications reference the sample scans by sha256: a window uploads them first.
    await Journey(bench.stack.settings, bench.stack.urls).upload_sample_scans()
    figures.origin = time.perf_counter()
    ceiling = Target("bare GET /healthz", HOST, [bench.bare_port], get_request("/healthz", HOST, 0))
    figures.ceiling = await bench.measured(
        "generator ceiling", ceiling, options.ceiling_seconds, expected=200
    )
    for target in (bench.bare, bench.intake):
        await bench.measured("warm-up", target, options.warmup_seconds)
    for number in range(1, options.rounds + 1):
        for target in (bench.bare, bench.intake):
            figures.rounds.append(
                await bench.measured(f"round {number}", target, options.round_seconds, settle=True)
            )
    if options.pipeline_seconds > 0:
        figures.cycles.append(await pipeline_cycle(bench, "pipeline busy", paused_=False))
    if options.alone_seconds > 0:
        backlog = await pipeline_cycle(bench, "backlog", paused_=True)
        figures.alone = backlog.round
        figures.cycles.append(backlog)
    if options.profile_seconds > 0:
        await profiled_round(bench)
    if options.scale_out_seconds > 0:
        await scale_out(bench)
    saturated = set(bench.accepted)

    async with bench.case_watch() as watcher:
        waited = await bench.wait_for_cases(
            "cases of the saturation rounds", saturated, watcher, options.drain_timeout
        )
        await asyncio.sleep(2)  # a second event for one application would come soon after
        figures.exactly_once.append(
            await bench.tally("after saturation", saturated, watcher, waited)
        )
        await one_connection(bench)
        # Paced load means an idle pipeline to start with: the one-connection phase's
        # applications are still crossing routing and approval, and would queue ahead.
        await bench.settle("paced load")
        await paced_load(bench, watcher)
        everything = set(bench.accepted)
        waited = await bench.wait_for_cases(
            "cases of the whole run", everything, watcher, min(60.0, options.drain_timeout)
        )
        await asyncio.sleep(1)
        figures.exactly_once.append(await bench.tally("whole run", everything, watcher, waited))
    return figures


async def pipeline_cycle(bench: Bench, name: str, *, paused_: bool) -> Cycle:
    """From a quiet pipeline, a saturation round of intake, then the wait until every case
    of it is open and the services are quiet again: how fast cases open while windows post,
    how fast the backlog drains, and the CPU each process spent per application on the way
    (what it uses idle, measured just before, shown beside).

    `paused_`: routing, approval and delivery are stopped during the round (intake alone), so
    the whole round is a backlog that they drain, unhindered, once resumed."""
    options = bench.options
    seconds = options.alone_seconds if paused_ else options.pipeline_seconds
    await bench.settle(name, limit=options.drain_timeout, quiet_for=QUIET_SECONDS)
    # What each process uses idle (relays polling, consumers waiting), shown beside its cost.
    idle_from = cpu.snapshot(time.perf_counter(), bench.labels)
    await asyncio.sleep(IDLE_SECONDS)
    before = cpu.snapshot(time.perf_counter(), bench.labels)
    idle = {
        label: seconds / (before.wall - idle_from.wall)
        for label, seconds in cpu.spent(idle_from, before).items()
    }
    with paused(list(bench.pids(DOWNSTREAM).values()) if paused_ else []):
        round_ = await bench.measured(name, bench.intake, seconds)
    resumed = datetime.now(UTC).timestamp()
    numbers = {json.loads(body)["application_no"] for body in round_.result.bodies}
    await bench.settle(f"{name}: drain", limit=options.drain_timeout, quiet_for=QUIET_SECONDS)
    after = cpu.snapshot(time.perf_counter(), bench.labels)
    opened = await bench.opened_at(numbers)
    rates = pipeline_rates(
        [bench.accepted_at[number].timestamp() for number in numbers],
        [at.timestamp() for at in opened.values()],
        resumed=resumed if paused_ else None,
    )
    count = len(numbers)
    cpu_ms = {label: s * 1000 / count for label, s in cpu.spent(before, after).items()}
    idle_share = {label: 100 * share for label, share in idle.items()}
    return Cycle(
        name, round_, rates, cpu_ms if count else {}, idle_share, len(opened) == count, paused_
    )


async def profiled_round(bench: Bench) -> None:
    """A saturation round of intake, the pipeline busy behind it, while py-spy records each
    service: a round of its own, so py-spy's share of the cores disturbs no other figure."""
    options, figures = bench.options, bench.figures
    await bench.settle("profiled round", limit=options.drain_timeout)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    async with flame.recording(
        bench.pids(SERVICES), options.profile_seconds, WORK_DIR / "bench", stamp
    ) as graphs:
        figures.profiled = await bench.measured("profiled", bench.intake, options.profile_seconds)
    figures.flame_graphs = graphs


async def scale_out(bench: Bench) -> None:
    task = bench.progress.add_task("starting a second intake process", total=None)
    port, process = await start_second_intake(bench.stack)
    bench.progress.update(task, total=1, completed=1)
    if process.popen is not None:
        bench.labels[process.popen.pid] = "intake #2"
    try:
        both = bench.applications("intake ×2", [bench.intake_port, port])
        await bench.measured("warm-up", both, bench.options.warmup_seconds)
        bench.figures.scale_out = await bench.measured(
            "scale-out", both, bench.options.scale_out_seconds, settle=True
        )
    finally:
        # SIGTERM: it stops taking requests and its relay publishes what it accepted.
        await asyncio.to_thread(stop_processes, [process], 20.0)


async def one_connection(bench: Bench) -> None:
    count = bench.options.sequential
    task = bench.progress.add_task("one connection, bare and intake in turn", total=2 * count)
    results = await Sequential([bench.bare, bench.intake]).run(
        count,
        label="one connection",
        answer_within=bench.options.request_timeout,
        keep_bodies=True,
        tick=lambda: bench.progress.advance(task),
    )
    bench.figures.sequential = results
    for result in results.values():
        bench.keep(result)


async def paced_load(bench: Bench, watcher: CaseOpenedWatcher) -> None:
    """Applications at --paced-rate per second (open loop) and, alongside, raw records
    through Kafka at the same pace: accepted → case open against the broker's own floor at
    the same moments."""
    options, figures = bench.options, bench.figures
    count = max(1, round(options.paced_rate * options.paced_seconds))
    task = bench.progress.add_task("paced load + raw Kafka round trips", total=2 * count)
    ready = asyncio.Event()
    raw_trips = asyncio.create_task(
        raw_round_trip(
            bench.stack.settings.kafka_bootstrap_servers,
            count,
            partitions=bench.stack.settings.kafka_topic_partitions,
            pause=1 / options.paced_rate,
            tick=lambda: bench.progress.advance(task),
            security=client_security(bench.stack.settings),
            ready=ready,
        )
    )
    # Both start together once Kafka's side is set up (or its failure surfaces here).
    waiting = asyncio.create_task(ready.wait())
    await asyncio.wait({raw_trips, waiting}, return_when=asyncio.FIRST_COMPLETED)
    waiting.cancel()
    if raw_trips.done():
        raw_trips.result()
    result = await paced(
        bench.intake,
        label="paced load",
        rate=options.paced_rate,
        count=count,
        answer_within=options.request_timeout,
        keep_bodies=True,
        tick=lambda: bench.progress.advance(task),
    )
    raw = await raw_trips
    bench.keep(result)
    figures.paced = result
    figures.raw_ms = [seconds * 1000 for seconds in raw]
    numbers = [json.loads(body)["application_no"] for body in result.bodies]
    deadline = time.perf_counter() + 60
    while watcher.count_for(set(numbers)) < len(numbers) and time.perf_counter() < deadline:
        watcher.arrived.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(watcher.arrived.wait(), timeout=1)
    open_seconds = {
        number: (min(watcher.opened[number]) - bench.accepted_at[number]).total_seconds()
        for number in numbers
        if number in watcher.opened
    }
    figures.case_open_ms = [seconds * 1000 for seconds in open_seconds.values()]
    figures.case_open_hops = await hop_breakdown(
        bench.stack.settings,
        {number: bench.accepted_at[number] for number in open_seconds},
        await bench.opened_at(set(open_seconds)),
    )
    figures.case_open_missing = len(numbers) - len(open_seconds)
    # For the plot: each application's accepted → case open, at the time it was due.
    figures.results.append(
        LoadResult(
            "paced load",
            "accepted → case open",
            1,
            result.elapsed,
            [
                Sample(sample.started, open_seconds[number], 201)
                for sample, number in zip(result.ok, numbers, strict=True)
                if number in open_seconds
            ],
        )
    )
