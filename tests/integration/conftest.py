"""Fixtures several end-to-end modules share (the stack itself comes from tests/conftest.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiokafka import AIOKafkaProducer
from playwright.async_api import Browser, async_playwright

from shared.messaging.kafka import client_security, make_producer
from shared.settings import Settings
from tooling.infra import Infrastructure
from tooling.infra.system_packages import chromium_path


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    """Debian's headless chromium (Playwright downloads none here), one per test module."""
    executable = chromium_path()
    if executable is None:
        pytest.fail("Debian's chromium is missing: `python -m tooling.infra --prepare` installs it")
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=executable, args=["--no-sandbox"]
        )
        yield launched
        await launched.close()


@pytest.fixture
def kafka_admin(infrastructure: Infrastructure) -> Settings:
    """The launcher's broker, as its admin (for tests that use topics of their own)."""
    return Settings(
        kafka_bootstrap_servers=infrastructure.kafka_bootstrap_servers,
        **infrastructure.kafka_settings(),
    )


@pytest.fixture
async def kafka(kafka_admin: Settings) -> AsyncIterator[AIOKafkaProducer]:
    """A producer on the launcher's broker, as its admin."""
    producer = make_producer(
        kafka_admin.kafka_bootstrap_servers,
        client_id="tongban-tests",
        security=client_security(kafka_admin),
    )
    await producer.start()
    yield producer
    await producer.stop()
