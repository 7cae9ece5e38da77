"""Windows posting applications at a steady rate while faults are injected: each application
keeps its own Idempotency-Key and is posted again until intake answers it (a connection refused,
a timeout or a 5xx is retried after a short pause), as a window terminal would. What each got
and how long it waited is kept for the chaos report."""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx

from tooling.journey import household_application, sample_applicant

RETRY_PAUSE_SECONDS = 0.5
GIVE_UP_SECONDS = 300.0


@dataclass
class Posted:
    key: str
    began: float  # monotonic
    answered: float | None = None
    application_no: str | None = None
    status: int | None = None
    attempts: int = 0
    refusal: str = ""  # the answer's start, when it was not 201

    @property
    def waited(self) -> float:
        return (self.answered or time.monotonic()) - self.began


@dataclass
class Windows:
    """Open-loop load: a new application every 1/rate seconds, each retried on its own."""

    intake_url: str
    token: str
    rate: float
    posted: list[Posted] = field(default_factory=list)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self) -> None:
        async with httpx.AsyncClient(
            base_url=self.intake_url,
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=10,
            limits=httpx.Limits(max_connections=64),
        ) as client:
            sequence = 0
            next_at = time.monotonic()
            while not self._stop.is_set():
                sequence += 1
                task = asyncio.create_task(self._one(client, sequence))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
                next_at += 1 / self.rate
                await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            if self._tasks:
                await asyncio.wait(self._tasks, timeout=GIVE_UP_SECONDS)

    def stop(self) -> None:
        self._stop.set()

    async def _one(self, client: httpx.AsyncClient, sequence: int) -> None:
        posted = Posted(key=str(uuid.uuid4()), began=time.monotonic())
        self.posted.append(posted)
        # A distinct applicant per application (the sample's sequence number varies the ID).
        body: dict[str, Any] = household_application(sample_applicant("340104", sequence % 999 + 1))
        while time.monotonic() - posted.began < GIVE_UP_SECONDS:
            posted.attempts += 1
            try:
                response = await client.post(
                    "/v1/applications", json=body, headers={"Idempotency-Key": posted.key}
                )
            except httpx.HTTPError:
                await asyncio.sleep(RETRY_PAUSE_SECONDS)
                continue
            if response.status_code >= 500 or response.status_code == 429:
                await asyncio.sleep(RETRY_PAUSE_SECONDS)
                continue
            posted.answered, posted.status = time.monotonic(), response.status_code
            if response.status_code == 201:
                posted.application_no = response.json()["application_no"]
            else:
                posted.refusal = response.text[:300]
            return

    def accepted(self) -> set[str]:
        return {p.application_no for p in self.posted if p.application_no is not None}

    def longest_wait(self, began: float, ended: float) -> float:
        """The longest any window waited for its answer among those posted in [began, ended)."""
        waits = [p.waited for p in self.posted if began <= p.began < ended]
        return max(waits, default=0.0)

    def refused(self) -> list[Posted]:
        return [p for p in self.posted if p.status is not None and p.status != 201]
