"""The API docs on a network without the internet (政务外网): `/docs` and `/redoc` load every
file from the service itself, so with every request beyond this machine refused they still show
the service's operations."""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import pytest
from playwright.async_api import Browser, BrowserContext, Route, expect

from tests.harness import Stack

pytestmark = pytest.mark.integration

LOCAL_HOSTS = {"127.0.0.1", "localhost"}


@pytest.fixture
async def offline(browser: Browser) -> AsyncIterator[tuple[BrowserContext, list[str]]]:
    """A browser context whose every request to anything but this machine is aborted (as the
    government network's firewall would), and the list of those it refused."""
    context = await browser.new_context()
    refused: list[str] = []

    async def only_local(route: Route) -> None:
        url = route.request.url
        if urlsplit(url).hostname in LOCAL_HOSTS or url.startswith(("data:", "blob:")):
            await route.continue_()
        else:
            refused.append(url)
            await route.abort("internetdisconnected")

    await context.route("**/*", only_local)
    yield context, refused
    await context.close()


async def test_swagger_ui_shows_the_operations_without_the_internet(
    stack: Stack, offline: tuple[BrowserContext, list[str]]
) -> None:
    context, refused = offline
    page = await context.new_page()
    await page.goto(f"{stack.services['intake'].base_url}/docs")
    accept = page.locator(".opblock-post", has_text="/v1/applications").first
    await expect(accept).to_be_visible(timeout=15_000)
    versions = page.locator(".opblock-get", has_text="/v1/catalog/versions").first
    await expect(versions).to_be_visible()
    assert refused == []


async def test_redoc_shows_the_operations_without_the_internet(
    stack: Stack, offline: tuple[BrowserContext, list[str]]
) -> None:
    context, refused = offline
    page = await context.new_page()
    await page.goto(f"{stack.services['approval'].base_url}/redoc")
    # ReDoc lists every operation in its menu, by summary, with its method.
    menu = page.locator("[role=menuitem], .menu-content li")
    await expect(menu.filter(has_text="post").first).to_be_visible(timeout=15_000)
    await expect(page.get_by_text("/v1/cases/{application_no}/decision").first).to_be_attached()
    assert refused == []
