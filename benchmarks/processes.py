"""Processes the benchmark starts itself (the bare endpoint, a second intake) and pauses
(the services downstream of intake, for a round)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import httpx
from rich.console import Console

from shared.settings import with_database
from tooling.infra import ManagedProcess, ensure_databases, free_ports, stop_processes
from tooling.stack import RunningStack

REPO_ROOT = Path(__file__).resolve().parents[1]
WORK_DIR = REPO_ROOT / ".tongban"
BARE_DATABASE = "tongban_bench_bare"
HOST = "127.0.0.1"
START_TIMEOUT = 90.0
# Intake's pool: SQLAlchemy pool_size=5 + max_overflow=5 (shared/db/engine.py).
BARE_POOL_SIZE = 10


def _wait_http_ready(process: ManagedProcess, url: str, what: str) -> None:
    async def wait() -> None:
        async with httpx.AsyncClient(timeout=2) as http:

            async def serves() -> bool:
                try:
                    return (await http.get(url)).status_code == 200
                except httpx.HTTPError:
                    return False

            await process.wait_ready(
                serves,
                deadline=time.monotonic() + START_TIMEOUT,
                not_ready=f"{what} was not ready on {url} within {START_TIMEOUT:.0f} s.",
                every=0.2,
            )

    asyncio.run(wait())


@contextlib.contextmanager
def bare_app(stack: RunningStack, console: Console) -> Iterator[tuple[int, ManagedProcess]]:
    """The bare FastAPI + asyncpg app on a free port, its own empty database on the stack's
    PostgreSQL server."""
    server_url = stack.settings.database_url
    ensure_databases(server_url, [BARE_DATABASE], recreate=True)
    (port,) = free_ports(1)
    log_dir = WORK_DIR / "logs"
    process = ManagedProcess(
        "bare FastAPI + asyncpg app",
        [
            sys.executable,
            "-m",
            "benchmarks.bare_insert",
            "--port",
            str(port),
            "--database-url",
            with_database(server_url, BARE_DATABASE),
            "--pool-size",
            str(BARE_POOL_SIZE),
        ],
        log_path=log_dir / "bench-bare.log",
        pid_file=log_dir / "bench-bare.pid",
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        stop_signal=signal.SIGTERM,
    )
    process.start()
    try:
        with console.status("Starting the bare FastAPI + asyncpg app…"):
            _wait_http_ready(process, f"http://{HOST}:{port}/readyz", "The bare app")
        console.print(f"[green]✓[/] bare app  http://{HOST}:{port}  (log: {process.log_path})")
        yield port, process
    finally:
        stop_processes([process], grace=10)


async def start_second_intake(stack: RunningStack) -> tuple[int, ManagedProcess]:
    """Another intake process, started the way the stack starts the first one (its command
    and environment), on a free port."""
    first = stack.services["intake"].process
    (port,) = free_ports(1)
    argv = list(first.argv)
    argv[argv.index("--port") + 1] = str(port)
    log_dir = WORK_DIR / "logs"
    process = ManagedProcess(
        "second intake service",
        argv,
        log_path=log_dir / "intake-2.log",
        pid_file=log_dir / "intake-2.pid",
        cwd=first.cwd,
        env=first.env,
        stop_signal=signal.SIGTERM,
    )
    process.start()
    await asyncio.to_thread(
        _wait_http_ready, process, f"http://{HOST}:{port}/readyz", "The second intake"
    )
    return port, process


@contextlib.contextmanager
def paused(pids: Sequence[int]) -> Iterator[None]:
    """These processes (the benchmark's own children) stopped (SIGSTOP) while the block runs,
    as if they ran on machines of their own that are busy elsewhere; resumed (SIGCONT) after,
    whatever happens. Kafka keeps what they have not read."""
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)
