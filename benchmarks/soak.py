"""`make soak`: the stack for half an hour at half of its saturation; memory flat, outbox and
inbox pruned, latency steady, nothing lost.

    make soak                                   # 30 minutes at half of a measured saturation
    make soak SOAK_ARGS='--minutes 5 --rate 8'  # shorter, at a given rate (applications/s)
    .venv/bin/python -m benchmarks.soak --help

The stack is `make run`'s (tooling/stack.py; its fixed ports), supervised as in `make chaos`.
First, unless --rate is given, 32 windows post back to back for 20 s: the saturation is the
lower of intake's accepted rate and the rate at which cases opened. Then windows post at half of
it, open-loop, each application retried with its own Idempotency-Key (benchmarks/chaos_windows).
Every --interval seconds: each process's memory (/proc: the RSS of a lone process, the PSS of
a process tree such as PostgreSQL's backends, without its shared buffers) and the outbox and
inbox rows of every service database. The
services run with a short retention (--retention-minutes; pruning every 30 s) so that half an
hour shows the rows levelling off rather than growing for the 24 hours and 14 days of the
defaults. At the end, after the pipeline drained: a table of memory per process (flat = within
10 % from the end of the warm-up to the end), the rows, latency per 5-minute window (the
window's answer, and accepted → case opened), exactly once as in `make chaos`, and a PNG per
process under test-artifacts/soak/. Exit status 1 when memory grew more than 10 %, the rows
were not pruned, a process had to be restarted, or an application was lost or doubled.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

import httpx
from rich.console import Console

from benchmarks import soak_report as report
from benchmarks.chaos import RECOVERY_LIMIT_SECONDS, _cases, under_watch
from benchmarks.chaos_windows import Windows
from benchmarks.kafka_probe import CaseOpenedWatcher
from benchmarks.soak_samples import MessagingCounts, Sample, memory, now_since
from shared.settings import SERVICES
from tooling.journey import Journey, household_application, sample_applicant
from tooling.stack import RunningStack, running_stack
from tooling.supervisor import Supervisor

REPO_ROOT = Path(__file__).resolve().parents[1]
SATURATION_SECONDS = 20.0
SATURATION_WINDOWS = 32


def arguments(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="make soak", description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=30.0, help="of steady load (30)")
    parser.add_argument("--rate", type=float, help="applications/s (default: half saturation)")
    parser.add_argument("--interval", type=float, default=10.0, help="seconds between samples")
    parser.add_argument("--warm-up", type=float, help="minutes before memory counts (5; ≤ 1/6)")
    parser.add_argument("--window", type=float, default=5.0, help="minutes per latency window")
    parser.add_argument("--retention-minutes", type=float, default=3.0)
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "test-artifacts" / "soak")
    options = parser.parse_args(argv)
    if options.warm_up is None:
        options.warm_up = min(5.0, options.minutes / 6)
    return options


def short_retention(minutes: float) -> None:
    """The services' prune settings (shared/settings.py), inherited by the stack's processes."""
    os.environ["PRUNE_INTERVAL_SECONDS"] = "30"
    os.environ["OUTBOX_RETENTION_HOURS"] = str(minutes / 60)
    os.environ["INBOX_RETENTION_DAYS"] = str(minutes / 1440)


async def saturation(
    stack: RunningStack, token: str, watcher: CaseOpenedWatcher, console: Console
) -> tuple[float, set[str]]:
    """Applications/s the stack takes back to back: min(intake accepted, cases opened)."""
    accepted: set[str] = set()
    stop = time.monotonic() + SATURATION_SECONDS

    async def window(client: httpx.AsyncClient, index: int) -> None:
        sequence = index
        while time.monotonic() < stop:
            body = household_application(sample_applicant("340104", sequence % 999 + 1))
            sequence += SATURATION_WINDOWS
            try:
                response = await client.post(
                    "/v1/applications", json=body, headers={"Idempotency-Key": str(uuid.uuid4())}
                )
            except httpx.HTTPError:
                continue
            if response.status_code == 201:
                accepted.add(response.json()["application_no"])

    with console.status(f"saturation: {SATURATION_WINDOWS} windows back to back…"):
        async with httpx.AsyncClient(
            base_url=stack.urls["intake"],
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
            limits=httpx.Limits(max_connections=SATURATION_WINDOWS),
        ) as client:
            await asyncio.gather(*(window(client, i) for i in range(SATURATION_WINDOWS)))
        opened = watcher.count_for(accepted)
    rate = min(len(accepted), opened) / SATURATION_SECONDS
    console.print(
        f"saturation: {len(accepted) / SATURATION_SECONDS:.1f} accepted/s, "
        f"{opened / SATURATION_SECONDS:.1f} cases opened/s in the same {SATURATION_SECONDS:.0f} s"
    )
    return rate, accepted


def _database_urls(stack: RunningStack) -> dict[str, str]:
    urls: dict[str, str] = {s: stack.settings.service_database_url(s) for s in SERVICES}
    urls["portal"] = stack.settings.portal_database()
    urls["consultation"] = stack.settings.service_database_url("consultation")
    return urls


async def soak(stack: RunningStack, options: argparse.Namespace, console: Console) -> int:
    supervisor, supervising, watcher, token = await under_watch(stack, console)
    await Journey(stack.settings, stack.urls).upload_sample_scans()
    counts = MessagingCounts(_database_urls(stack))
    earlier: set[str] = set()
    rate = options.rate
    if rate is None:
        saturated, earlier = await saturation(stack, token, watcher, console)
        rate = max(saturated / 2, 0.5)
        await asyncio.sleep(10)  # what the saturation left in the pipeline drains first
    console.print(f"[bold]soak: {rate:.1f} applications/s for {options.minutes:g} minutes[/]")
    windows = Windows(stack.urls["intake"], token, rate)
    began = time.monotonic()
    wall_offset = time.time() - began
    load = asyncio.create_task(windows.run())
    samples: list[Sample] = []
    try:
        while now_since(began) < options.minutes * 60:
            samples.append(
                Sample(now_since(began), memory(stack.processes()), await counts.count())
            )
            if len(samples) % max(1, round(60 / options.interval)) == 0:
                m = samples[-1].messaging
                console.print(
                    f"{samples[-1].at / 60:5.1f} min: {len(windows.accepted())} accepted, "
                    f"{len(watcher.opened)} cases opened; outbox sent {m['outbox_sent']}, "
                    f"waiting {m['outbox_waiting']}, inbox {m['inbox']}"
                )
            await asyncio.sleep(max(0.0, options.interval - now_since(began) % options.interval))
        windows.stop()
        await load
        accepted = windows.accepted() | earlier
        drain = time.monotonic()
        while time.monotonic() - drain < RECOVERY_LIMIT_SECONDS:
            if watcher.count_for(accepted) == len(accepted):
                break
            await asyncio.sleep(1)
        cases = await _cases(stack, accepted)
        samples.append(Sample(now_since(began), memory(stack.processes()), await counts.count()))
    finally:
        windows.stop()
        supervising.cancel()
        await watcher.stop()
        await counts.close()
    answers = [(p.began - began, p.waited) for p in windows.posted if p.answered is not None]
    opened = [
        (p.began - began, watcher.opened[p.application_no][0].timestamp() - (p.began + wall_offset))
        for p in windows.posted
        if p.application_no in watcher.opened
    ]
    return verdict(
        console, options, samples, answers, opened, accepted, cases, watcher, supervisor, rate
    )


def verdict(
    console: Console,
    options: argparse.Namespace,
    samples: list[Sample],
    answers: list[tuple[float, float]],
    opened: list[tuple[float, float]],
    accepted: set[str],
    cases: dict[str, int],
    watcher: CaseOpenedWatcher,
    supervisor: Supervisor,
    rate: float,
) -> int:
    warm_up = options.warm_up * 60
    grown = report.growths(samples, warm_up)
    report.table_of_memory(console, grown)
    report.table_of_messaging(console, samples, max(1, round(300 / options.interval)))
    was_pruned, how = report.pruned(samples, options.retention_minutes * 60)
    console.print(f"pruned: {was_pruned} ({how})")
    windows = report.intervals(answers, opened, options.window * 60)
    report.table_of_latency(console, windows, options.window)
    lost = [n for n in accepted if n not in cases or n not in watcher.opened]
    twice = [n for n in accepted if cases.get(n, 0) > 1 or len(watcher.event_ids.get(n, ())) > 1]
    restarts = {w.name: w.restarts for w in supervisor.watched.values() if w.restarts}
    console.print(
        f"accepted {len(accepted)}, cases {sum(cases.values())}, lost {len(lost)}, "
        f"twice {len(twice)}; restarts by the supervisor: {restarts or 'none'}"
    )
    paths = report.plots(options.out, samples, grown, warm_up)
    summary = {
        "minutes": options.minutes,
        "rate": rate,
        "memory": [g.__dict__ | {"growth": g.growth} for g in grown],
        "pruned": was_pruned,
        "pruned_how": how,
        "latency": [w.__dict__ for w in windows],
        "accepted": len(accepted),
        "lost": len(lost),
        "twice": len(twice),
        "restarts": restarts,
    }
    saved = report.save(options.out, samples, summary)
    console.print(f"plots: {', '.join(str(p) for p in paths)}; samples: {saved}")
    failed = any(not g.flat for g in grown) or was_pruned is False or lost or twice or restarts
    return 1 if failed else 0


def main(argv: Sequence[str] | None = None) -> None:
    options = arguments(argv)
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    short_retention(options.retention_minutes)
    console = Console()
    with running_stack(console) as stack:
        outcome = asyncio.run(soak(stack, options, console))
    raise SystemExit(outcome)


if __name__ == "__main__":
    main()
