"""一件事 and kill -9: the bundle process manager (intake's module) killed with SIGKILL in the
middle of a bundle, in a real process of its own started as the launcher starts services
(`python -m tooling.cli serve intake`), then started again: no child accepted twice, none lost.

The in-process intake of the test stack is stopped for the test (so the process under test is
the one member of intake's consumer groups) and started again at its end."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer
from pydantic import SecretStr
from pydantic_settings import NoDecode
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import create_async_engine

from services.approval.db import CaseRow
from services.intake.bundle_db import BundleChildRow
from shared.db.messaging_tables import outbox
from shared.messaging import topics
from shared.messaging.kafka import client_security, make_consumer
from shared.settings import ServiceName, Settings
from tests import factories
from tests.harness import Stack
from tooling.bundle_journey import newborn_bundle, released, submit_bundle
from tooling.infra import Infrastructure, ManagedProcess, free_ports, stop_processes
from tooling.journey import Journey

pytestmark = pytest.mark.integration

SHUSHAN, HEFEI = "340104", "340100"
REPO_ROOT = Path(__file__).resolve().parents[2]
ACCEPTED = "gov.tongban.application.accepted.v1"


def environment(settings: Settings) -> dict[str, str]:
    """`settings` as the environment of a service process (what `tongban serve` reads)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KAFKA_", "TONGBAN_"))}
    for name, field in Settings.model_fields.items():
        value = getattr(settings, name)
        if value is None:
            continue
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        if isinstance(value, list):
            if not value:
                continue  # the default
            no_decode = any(m is NoDecode or isinstance(m, NoDecode) for m in field.metadata)
            value = ",".join(value) if no_decode else json.dumps(value)
        elif isinstance(value, dict):
            value = json.dumps(value)
        elif isinstance(value, bool):
            value = "true" if value else "false"
        env[name.upper()] = str(value)
    env["PYTHONUNBUFFERED"] = "1"
    return env


class IntakeProcess:
    """Intake as the launcher runs it: its own process, SIGTERM to stop, SIGKILL to kill."""

    def __init__(self, settings: Settings, log_dir: Path) -> None:
        (self.port,) = free_ports(1)
        self.url = f"http://127.0.0.1:{self.port}"
        self.settings, self.log_dir = settings, log_dir
        self.process: ManagedProcess | None = None
        self.starts = 0

    async def start(self) -> None:
        self.starts += 1
        self.process = ManagedProcess(
            "intake service",
            [sys.executable, "-m", "tooling.cli", "serve", "intake", "--port", str(self.port)],
            log_path=self.log_dir / f"intake-{self.starts}.log",
            pid_file=self.log_dir / f"intake-{self.starts}.pid",
            cwd=REPO_ROOT,
            env=environment(self.settings),
            stop_signal=signal.SIGTERM,
        )
        self.process.start()

        async def ready() -> bool:
            try:
                async with httpx.AsyncClient(base_url=self.url, timeout=2) as client:
                    return (await client.get("/readyz")).status_code == 200
            except httpx.HTTPError:
                return False

        await self.process.wait_ready(
            ready, deadline=time.monotonic() + 90, not_ready="intake did not get ready"
        )

    def kill(self) -> None:
        """kill -9: no shutdown hook runs, nothing is flushed or committed."""
        assert self.process is not None and self.process.popen is not None
        os.kill(self.process.popen.pid, signal.SIGKILL)
        self.process.popen.wait(10)

    def stop(self) -> None:
        if self.process is not None:
            stop_processes([self.process], grace=20)


@pytest.fixture
async def intake_process(
    stack: Stack, test_settings: Settings, infrastructure: Infrastructure, tmp_path: Path
) -> AsyncIterator[IntakeProcess]:
    await stack.stop_service("intake")
    # Intake's own Kafka principal, as in `make run` (tests/conftest.py's service_settings).
    settings = test_settings.model_copy(update=infrastructure.kafka_settings("intake"))
    process = IntakeProcess(settings, tmp_path)
    try:
        await process.start()
        yield process
    finally:
        process.stop()
        await stack.start("intake")


async def count(stack: Stack, service: ServiceName, query: Any) -> int:
    engine = create_async_engine(stack.settings.service_database_url(service))
    try:
        async with engine.connect() as connection:
            return int(await connection.scalar(query) or 0)
    finally:
        await engine.dispose()


async def released_count(stack: Stack, bundle_no: str) -> int:
    """Where a kill landed: how many held children had been released (committed) by then."""
    query = (
        select(func.count())
        .select_from(BundleChildRow)
        .where(BundleChildRow.bundle_no == bundle_no, BundleChildRow.status == "released")
    )
    return await count(stack, "intake", query)


async def accepted_on_topic(stack: Stack, numbers: set[str]) -> dict[str, set[str]]:
    """The distinct ApplicationAccepted events (by event id) on intake's topic, per child."""
    consumer: AIOKafkaConsumer = make_consumer(
        stack.settings.kafka_bootstrap_servers,
        [topics.INTAKE_EVENTS],
        group_id=f"test-kill-{os.getpid()}-{time.monotonic_ns()}",
        client_id="test-kill",
        security=client_security(stack.settings),
    )
    await consumer.start()
    found: dict[str, set[str]] = {number: set() for number in numbers}
    try:
        quiet = 0
        while quiet < 3:
            batches = await consumer.getmany(timeout_ms=500)
            quiet = 0 if batches else quiet + 1
            for batch in batches.values():
                for record in batch:
                    headers = {k: v.decode() for k, v in record.headers or ()}
                    subject = headers.get("ce_subject")
                    if headers.get("ce_type") == ACCEPTED and subject in found:
                        found[subject].add(headers["ce_id"])
    finally:
        await consumer.stop()
    return found


async def test_the_process_manager_killed_mid_bundle_neither_duplicates_nor_loses_a_child(
    stack: Stack, intake_process: IntakeProcess
) -> None:
    urls = {name: service.base_url for name, service in stack.services.items()}
    trip = Journey(stack.settings, {**urls, "intake": intake_process.url})
    await trip.upload_sample_scans()
    response = await submit_bundle(
        trip, newborn_bundle(factories.applicant(SHUSHAN), factories.resident_id(SHUSHAN))
    )
    assert response.status_code == 201, response.text
    receipt = response.json()
    bundle_no = receipt["bundle_no"]
    numbers = {c["item_code"]: c["application_no"] for c in receipt["children"]}

    # The birth certificate issued, and intake killed at once: it was reading the certificate
    # (or about to), releasing the registration, or relaying its acceptance.
    await trip.approve(numbers["WJ-CS-001"], SHUSHAN)
    intake_process.kill()
    print(f"first kill: {await released_count(stack, bundle_no)} child(ren) released before it")
    await intake_process.start()
    await released(trip, bundle_no, "GA-HJ-003")
    await trip.wait_for_case(numbers["GA-HJ-003"], SHUSHAN)

    # Again for the household register, which releases two children at once.
    await trip.approve(numbers["GA-HJ-003"], SHUSHAN)
    intake_process.kill()
    print(f"second kill: {await released_count(stack, bundle_no)} child(ren) released before it")
    await intake_process.start()
    await released(trip, bundle_no, "YL-CB-001", "SB-SBK-002")
    await trip.wait_for_case(numbers["YL-CB-001"], SHUSHAN)
    await trip.wait_for_case(numbers["SB-SBK-002"], HEFEI)

    # No child twice, none lost: each child accepted once (one event in intake's outbox, one
    # distinct event on the topic, whatever the relay sent again), one case each.
    children = set(numbers.values())
    for number in children:
        in_outbox = (
            select(func.count())
            .select_from(outbox)
            .where(outbox.c.subject == number, outbox.c.event_type == ACCEPTED)
        )
        assert await count(stack, "intake", in_outbox) == 1, number
        cases = select(func.count()).select_from(CaseRow).where(CaseRow.application_no == number)
        assert await count(stack, "approval", cases) == 1, number
    on_topic = await accepted_on_topic(stack, children)
    assert {number: len(ids) for number, ids in on_topic.items()} == dict.fromkeys(children, 1)
    held = (
        select(func.count())
        .select_from(BundleChildRow)
        .where(BundleChildRow.bundle_no == bundle_no, BundleChildRow.status == "held")
    )
    assert await count(stack, "intake", held) == 0
    assert intake_process.starts == 3
