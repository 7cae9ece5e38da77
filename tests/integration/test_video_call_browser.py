"""视频会商 in Debian's headless Chromium with fake camera and microphone (Playwright): a 阜阳
window's clerk signs in, opens a consultation with 合肥 and rings; a 合肥 reviewer sees the call
ringing in the list and answers; both pages play the other's video (a playing <video> of
non-zero size); the reviewer records the ID card's original as seen by video (原件核验); the clerk
hangs up and both pages say the call ended; the reviewer plays the recording back, its SM3
digest shown. Every page reads in Chinese and passes axe-core (tests/accessibility.py) at each
step (sign-in, the list, ring, answer, in call, 原件核验, ended, playback, an error page) with no
violation of any impact; axe's summary is printed and written to
test-artifacts/video/axe-summary.txt.

The call's screenshot is written to test-artifacts/video/call.png (TONGBAN_UPDATE_SCREENSHOT=1
also copies it to docs/video-call.png, the README's).
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright, expect

from tests.accessibility import AxeReport, axe_source
from tests.consultation import clerk_token, consultation, reviewer_token
from tests.harness import Stack
from tooling.infra.system_packages import chromium_path

pytestmark = pytest.mark.integration
__all__ = ["consultation"]

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO_ROOT / "test-artifacts" / "video"
FAKE_MEDIA = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]
# A remote <video> that plays: has data, is not paused, and shows frames of some size.
PLAYING = """video => video.readyState >= 2 && !video.paused && video.videoWidth > 0
    && video.getBoundingClientRect().width > 0 && video.getBoundingClientRect().height > 0"""


@pytest.fixture(scope="module", autouse=True)
def axe_installed() -> None:
    """Before anything runs in the event loop (npm ci takes a few seconds when needed)."""
    axe_source()


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    """Debian's chromium with a fake camera and microphone, granted without asking."""
    executable = chromium_path()
    if executable is None:
        pytest.fail("Debian's chromium is missing: `python -m tooling.infra --prepare` installs it")
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=executable, args=["--no-sandbox", *FAKE_MEDIA]
        )
        yield launched
        await launched.close()


async def signed_in(
    browser: Browser, base_url: str, token: str, axe: AxeReport, who: str
) -> tuple[BrowserContext, Page]:
    context = await browser.new_context(
        locale="zh-CN",
        base_url=base_url,
        viewport={"width": 1100, "height": 900},
        permissions=["camera", "microphone"],
    )
    page = await context.new_page()
    await page.goto("/login")
    await reads_chinese(page)
    await axe.check(page, f"{who}-login")
    await page.fill("#token", token)
    await page.click("button[type=submit]")
    await expect(page).to_have_url(re.compile(r"/$"))
    return context, page


async def reads_chinese(page: Page) -> None:
    assert await page.locator("html").get_attribute("lang") == "zh-CN"
    await expect(page.locator("h1")).to_have_text(re.compile(r"[\u4e00-\u9fff]"))


async def test_a_clerk_rings_a_reviewer_answers_both_see_each_other(
    stack: Stack, consultation: str, browser: Browser
) -> None:
    application_no = f"TB-VIDEO-{uuid.uuid4().hex[:8].upper()}"
    axe = AxeReport()
    clerk_context, clerk = await signed_in(browser, consultation, clerk_token(stack), axe, "clerk")
    await reads_chinese(clerk)
    await axe.check(clerk, "clerk-list")
    # The reviewer's list is open before the call: it shows the call ringing by itself.
    reviewer_context, reviewer = await signed_in(
        browser, consultation, reviewer_token(stack), axe, "reviewer"
    )
    await reviewer.evaluate("window.sameDocument = true")
    await clerk.fill("#application_no", application_no)
    await clerk.fill("#topic", "申请人的户口簿复印件是否可用？请看原件。")
    await clerk.click("#open-form button[type=submit]")
    await expect(clerk).to_have_url(re.compile(r"/consultations/VC"))
    await reads_chinese(clerk)
    await axe.check(clerk, "clerk-call")
    await clerk.click("#ring")
    await expect(clerk.locator("#status")).to_have_text("正在呼叫审批地…")
    await axe.check(clerk, "clerk-ringing")

    row = reviewer.locator("tr", has_text=application_no)
    await expect(row).to_contain_text("呼叫中", timeout=20_000)  # read again every 10 s
    assert await reviewer.evaluate("window.sameDocument === true")  # no reload: the list alone
    await expect(reviewer.locator("#list-status")).to_contain_text("呼叫中的会商")
    await axe.check(reviewer, "reviewer-list")
    await row.get_by_role("link", name="接听").click()
    await expect(reviewer.locator("#status")).to_have_text("窗口来电：接听后即可视频对话。")
    await axe.check(reviewer, "reviewer-answer")
    await reviewer.click("#accept")

    for page in (clerk, reviewer):
        await expect(page.locator("#status")).to_have_text("通话中", timeout=30_000)
        await page.wait_for_function(f"({PLAYING})(document.getElementById('remote'))")
        box = await page.locator("#remote").bounding_box()
        assert box is not None and box["width"] > 0 and box["height"] > 0
    size = await clerk.evaluate("[remote.videoWidth, remote.videoHeight]")
    assert size[0] > 0 and size[1] > 0
    await axe.check(clerk, "clerk-in-call")
    await axe.check(reviewer, "reviewer-in-call")
    await clerk.wait_for_timeout(2000)  # a few seconds of call, recorded
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await clerk.screenshot(path=str(ARTIFACTS / "call.png"), full_page=True)
    if os.environ.get("TONGBAN_UPDATE_SCREENSHOT") == "1":
        shutil.copyfile(ARTIFACTS / "call.png", REPO_ROOT / "docs" / "video-call.png")

    # 原件核验 by video: 合肥 grants 阜阳's windows verify_original (the demo agreements).
    await reviewer.fill("#material_code", "M01")
    await reviewer.fill("#note", "身份证原件已视频核验")
    await reviewer.click("#verify-form button[type=submit]")
    await expect(reviewer.locator("#verifications")).to_contain_text("M01")
    await axe.check(reviewer, "reviewer-verified")

    await clerk.click("#hangup")
    for page in (clerk, reviewer):
        await expect(page.locator("#status")).to_have_text("通话已结束。", timeout=15_000)
    await axe.check(clerk, "clerk-ended")
    await axe.check(reviewer, "reviewer-ended")

    # The recording, once stored: its digest shown, and the reviewer plays it back.
    for _ in range(30):
        await reviewer.reload()
        if await reviewer.locator("video.playback").count():
            break
        await reviewer.wait_for_timeout(1000)
    await expect(reviewer.locator("#verifications")).to_contain_text("M01")
    await expect(reviewer.locator("main")).to_contain_text(re.compile(r"SM3 摘要 [0-9a-f]{64}"))
    await reviewer.wait_for_function(
        "document.querySelector('video.playback').readyState >= 1"
        " && document.querySelector('video.playback').duration > 0"
    )
    await axe.check(reviewer, "reviewer-playback")
    await clerk.reload()
    assert await clerk.locator("video.playback").count() == 0  # the window sees the digest only
    await axe.check(clerk, "clerk-recorded")
    # A consultation that is not there (or not the caller's): the error page.
    await clerk.goto("/consultations/VCNOSUCHCONSULTATION")
    await reads_chinese(clerk)
    await axe.check(clerk, "error")
    await clerk_context.close()
    await reviewer_context.close()

    print(axe.summary())
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "axe-summary.txt").write_text(axe.summary() + "\n", encoding="utf-8")
    assert axe.violations == [], "\n".join(str(v) for v in axe.violations)
