"""The citizen's side of a printed certificate, end to end in headless Chromium (Debian's,
driven by Playwright) against the real broker and database: the QR code's URL opened in a
browser is a page in Chinese that says whether the certificate is valid, and if not why
(已吊销 with the issuer's reason and date, 未找到), with the issuing office's full name, the
item's name and the holder's masked name; a program asking the same URL for JSON gets the
answer it always got. Screenshots go to test-artifacts/verification/."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from playwright.async_api import Browser, Page, expect
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from services.delivery.ratelimit import VerificationLimiter
from services.delivery.schemas import VerificationOut
from shared.clock import CHINA_TZ
from tests.certificates import certificate_revoked
from tests.harness import Stack, eventually
from tests.integration.test_certificate_documents import (
    HEFEI,
    HOLDER,
    ITEM_NAME,
    clerk,
    content_for,
    issue,
    issued_and_approved,
    new_numbers,
    print_when_ready,
    put,
    relative,
    verification_url,
    verify,
    wait_registered,
)

pytestmark = pytest.mark.integration

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "verification"


@pytest.fixture(scope="module")
async def delivery_db(stack: Stack) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(stack.settings.service_database_url("delivery"))
    yield engine
    await engine.dispose()


def in_test_stack(stack: Stack, url: str) -> str:
    """The QR code's URL, on the delivery this test stack runs (PUBLIC_BASE_URL is the
    default's, where nothing listens during the tests)."""
    return f"{stack.services['delivery'].base_url}{relative(url)}"


def chinese(day: date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


async def opened(browser: Browser, url: str, shot: str, locale: str = "zh-CN") -> tuple[Page, int]:
    """`url` opened in a new page of a browser set to `locale` (a citizen's phone in China by
    default: it asks for zh-CN), its screenshot taken; the page and its HTTP status."""
    page = await browser.new_page(viewport={"width": 420, "height": 900}, locale=locale)
    response = await page.goto(url)
    assert response is not None
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"{shot}.png"), full_page=True)
    return page, response.status


async def test_the_qr_codes_url_in_a_browser_says_valid_in_chinese_and_a_program_gets_json(
    stack: Stack, producer: AIOKafkaProducer, delivery_db: AsyncEngine, browser: Browser
) -> None:
    _, number, content = await issued_and_approved(producer, stack, delivery_db)
    printed = await print_when_ready(stack, clerk(stack), number)
    url = printed.headers["X-Tongban-Verify-Url"]  # what the QR code says

    page, status = await opened(browser, in_test_stack(stack, url), "valid")
    assert status == 200
    assert await page.locator("html").get_attribute("lang") == "zh-CN"
    await expect(page.get_by_role("heading", name="电子证照核验")).to_be_visible()
    await expect(page.get_by_role("heading", name="有效", exact=True)).to_be_visible()
    details = page.locator("dl")
    for shown in ("合肥市公安局", ITEM_NAME, "欧***", number, chinese(content.issued_on)):
        await expect(details).to_contain_text(shown)
    await expect(details).to_contain_text("长期有效")
    # The holder's name is masked, and no key id or locality code is shown.
    body = await page.locator("body").inner_text()
    for hidden in (HOLDER, "seal-", HEFEI):
        assert hidden not in body, hidden
    await page.close()

    # A program asking the same URL gets the JSON answer, as it always did.
    async with stack.client("delivery") as client:
        answer = await client.get(relative(url), headers={"Accept": "application/json"})
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/json"
    assert "Accept" in answer.headers["vary"]
    body_json = answer.json()
    assert set(body_json) == set(VerificationOut.model_fields)
    assert (body_json["valid"], body_json["number"]) == (True, number)
    assert (body_json["issuer_locality"], body_json["holder_name_masked"]) == (HEFEI, "欧***")
    # Without an Accept header (curl, scripts): JSON too.
    assert (await verify(stack, url))["valid"] is True
    # A page asked for without Accept-Language is in Chinese, the default.
    async with stack.client("delivery") as client:
        html = await client.get(relative(url), headers={"Accept": "text/html"})
    assert html.headers["content-type"].startswith("text/html")
    assert html.headers["content-language"] == "zh-CN" and "有效" in html.text

    # English on request (Accept-Language: en).
    page, _ = await opened(browser, in_test_stack(stack, url), "valid-en", locale="en-US")
    await expect(page.get_by_role("heading", name="Valid", exact=True)).to_be_visible()
    await expect(page.locator("dl")).to_contain_text("合肥市公安局")
    await page.close()


async def test_a_revoked_certificate_shows_the_issuers_reason_as_text(
    stack: Stack, producer: AIOKafkaProducer, delivery_db: AsyncEngine, browser: Browser
) -> None:
    application_no, number = new_numbers()
    await issue(producer, stack, content_for(application_no, number))
    await wait_registered(delivery_db, number)
    url = await verification_url(stack, number)
    # The reason is the issuer's free text: markup in it is shown, never run.
    reason = '<img src=x onerror="document.title=1">申请人以欺骗手段取得许可'
    revocation = certificate_revoked(application_no, number, locality=HEFEI, reason=reason)
    await put(producer, stack, revocation)

    async def revoked() -> dict[str, Any] | None:
        answer = await verify(stack, url)
        return answer if answer["reason"] == "revoked" else None

    await eventually(revoked)
    page, status = await opened(browser, in_test_stack(stack, url), "revoked")
    assert status == 200
    await expect(page.get_by_role("heading", name="已吊销")).to_be_visible()
    details = page.locator("dl")
    await expect(details).to_contain_text(reason)
    revoked_on = revocation.revoked_at.astimezone(CHINA_TZ).date()
    await expect(details).to_contain_text(chinese(revoked_on))
    await expect(details).to_contain_text("合肥市公安局")
    assert await page.locator("img").count() == 0
    assert await page.title() == "电子证照核验"
    await page.close()


async def test_a_wrong_code_and_too_many_verifications_are_told_in_chinese(
    stack: Stack, browser: Browser
) -> None:
    _, unknown = new_numbers()
    delivery = stack.services["delivery"]
    page, status = await opened(
        browser, f"{delivery.base_url}/v1/certificates/{unknown}/verify?code=x", "not-found"
    )
    assert status == 404
    await expect(page.get_by_role("heading", name="未找到")).to_be_visible()
    await page.close()
    # A program is told in JSON, and a cache keeps the two answers apart.
    async with httpx.AsyncClient() as program:
        missing = await program.get(f"{delivery.base_url}/v1/certificates/{unknown}/verify?code=x")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "certificate_not_found", missing.text
    assert "Accept" in missing.headers.get("vary", ""), missing.headers

    # The limit counts the page as it counts the JSON (the running service's own limiter, with a
    # limit of one for the duration of the test).
    app = delivery.app
    previous = app.state.dependencies
    app.state.dependencies = dataclasses.replace(
        previous, verification_limiter=VerificationLimiter(1)
    )
    try:
        url = f"{delivery.base_url}/v1/certificates/{unknown}/verify?code=x"
        page, first = await opened(browser, url, "limit-first")
        await page.close()
        page, second = await opened(browser, url, "limited")
        async with httpx.AsyncClient() as program:
            refused = await program.get(url)
    finally:
        app.state.dependencies = previous
    assert (first, second) == (404, 429)
    await expect(page.get_by_role("heading", name="核验过于频繁")).to_be_visible()
    await page.close()
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "rate_limited"
