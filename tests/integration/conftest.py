"""Fixtures several end-to-end modules share (the stack itself comes from tests/conftest.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, async_playwright

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
