"""Benchmark: applications through the real stack (processes, broker, database) on this machine.

    make bench                      # 200 applications, 8 windows at a time
    .venv/bin/python -m benchmarks.journey --applications 500 --concurrency 16

Prints the POST latency at the window, and how long each application takes to cross intake →
routing → approval until its case is open for review (the asynchronous part of the journey).
Figures, not assertions: a slow run fails nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid

import httpx
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from shared.auth import mint_token
from tooling.journey import household_application, sample_applicant
from tooling.stack import RunningStack, running_stack


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def measure(
    stack: RunningStack, applications: int, concurrency: int, console: Console
) -> None:
    clerk = mint_token(
        stack.settings, role="window_clerk", locality="341200", window_id="W341200-01"
    )
    approver = mint_token(stack.settings, role="approver", locality="340100")
    posted_at: dict[str, float] = {}
    post_latency: list[float] = []
    gate = asyncio.Semaphore(concurrency)

    async with (
        httpx.AsyncClient(
            base_url=stack.urls["intake"], headers={"Authorization": f"Bearer {clerk}"}
        ) as intake,
        httpx.AsyncClient(
            base_url=stack.urls["approval"], headers={"Authorization": f"Bearer {approver}"}
        ) as approval,
    ):

        async def submit(sequence: int) -> None:
            body = household_application(sample_applicant("340104", sequence=sequence % 999 + 1))
            async with gate:
                started = time.perf_counter()
                response = await intake.post(
                    "/v1/applications", json=body, headers={"Idempotency-Key": str(uuid.uuid4())}
                )
                post_latency.append(time.perf_counter() - started)
            response.raise_for_status()
            posted_at[response.json()["application_no"]] = time.perf_counter()

        opened_after: dict[str, float] = {}
        began = time.perf_counter()
        with Progress(console=console) as progress:
            posting = progress.add_task("accepting at the window", total=applications)
            reviewing = progress.add_task("cases open in 合肥", total=applications)

            async def post_all() -> None:
                for done in asyncio.as_completed([submit(i) for i in range(applications)]):
                    await done
                    progress.advance(posting)

            async def watch_cases() -> None:
                while len(opened_after) < applications:
                    cases = (
                        await approval.get("/v1/cases", params={"status": "in_review"})
                    ).json()["cases"]
                    now = time.perf_counter()
                    for case in cases:
                        number = case["application_no"]
                        if number in posted_at and number not in opened_after:
                            opened_after[number] = now - posted_at[number]
                            progress.advance(reviewing)
                    await asyncio.sleep(0.1)

            await asyncio.gather(post_all(), asyncio.wait_for(watch_cases(), timeout=600))
        elapsed = time.perf_counter() - began

    table = Table(title=f"{applications} applications, {concurrency} concurrent windows")
    table.add_column("measure")
    table.add_column("p50", justify="right")
    table.add_column("p95", justify="right")
    table.add_column("max", justify="right")
    for name, values in (
        ("POST /v1/applications (ms)", [v * 1000 for v in post_latency]),
        ("accepted → case open in 合肥 (ms)", [v * 1000 for v in opened_after.values()]),
    ):
        table.add_row(
            name,
            f"{statistics.median(values):.0f}",
            f"{percentile(values, 0.95):.0f}",
            f"{max(values):.0f}",
        )
    Console().print(table)
    Console().print(
        f"throughput: {applications / elapsed:.1f} applications/s end to end ({elapsed:.1f}s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--applications", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=8)
    arguments = parser.parse_args()
    console = Console(stderr=True)
    with running_stack(console) as stack:
        asyncio.run(measure(stack, arguments.applications, arguments.concurrency, console))


if __name__ == "__main__":
    main()
