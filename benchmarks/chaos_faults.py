"""The faults `make chaos` injects into a running stack, in turn: SIGKILL of each service, of
intake while its relay has a batch in hand, and of the Kafka broker; PostgreSQL stopped in
immediate mode (SIGQUIT, what `pg_ctl stop -m immediate` sends: crash recovery on the next start);
and approval frozen (SIGSTOP) past its consumer's session timeout, so Kafka rebalances it out,
then thawed (SIGCONT). `make run`'s supervisor (tooling/supervisor.py) starts again what died."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tooling.infra import ManagedProcess
from tooling.stack import RunningStack

# aiokafka's default consumer session timeout is 10 s: frozen for longer, the member is evicted.
FROZEN_SECONDS = 15.0


@dataclass(frozen=True)
class Fault:
    name: str  # what the report calls it
    target: str  # the process of stack.processes()
    kind: str  # "kill", "kill-mid-relay", "pg-immediate", "freeze"

    async def inject(self, stack: RunningStack) -> float:
        """Inject the fault; the moment (time.monotonic) it struck, which recovery counts from."""
        process = stack.processes()[self.target]
        if self.kind == "kill-mid-relay":
            await _relay_busy(stack)
        struck = time.monotonic()
        if self.kind in ("kill", "kill-mid-relay"):
            _signal(process, signal.SIGKILL)
        elif self.kind == "pg-immediate":
            # What `pg_ctl stop -m immediate` sends the postmaster: quit at once, no checkpoint;
            # the next start recovers from the WAL.
            _signal(process, signal.SIGQUIT)
        elif self.kind == "freeze":
            _signal(process, signal.SIGSTOP)
            await asyncio.sleep(FROZEN_SECONDS)
            _signal(process, signal.SIGCONT)
        return struck


def faults(services: list[str]) -> list[Fault]:
    kills = [Fault(f"SIGKILL {name}", name, "kill") for name in services]
    return [
        *kills,
        Fault("SIGKILL intake, relay mid-batch", "intake", "kill-mid-relay"),
        Fault("SIGKILL Kafka broker", "kafka", "kill"),
        Fault("PostgreSQL immediate stop", "postgres", "pg-immediate"),
        Fault(f"SIGSTOP approval {FROZEN_SECONDS:.0f} s (rebalance)", "approval", "freeze"),
    ]


def _signal(process: ManagedProcess, number: signal.Signals) -> None:
    assert process.popen is not None, f"{process.name} never started"
    os.kill(process.popen.pid, number)


async def _relay_busy(stack: RunningStack, within: float = 10.0) -> None:
    """Return once intake's outbox holds events not yet sent (the relay has work in hand)."""
    engine = create_async_engine(stack.settings.service_database_url("intake"), pool_size=1)
    deadline = time.monotonic() + within
    try:
        async with engine.connect() as connection:
            while time.monotonic() < deadline:
                pending = await connection.scalar(
                    text("SELECT count(*) FROM outbox WHERE sent_at IS NULL")
                )
                if pending:
                    return
                await asyncio.sleep(0.01)
    finally:
        await engine.dispose()
