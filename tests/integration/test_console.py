"""The operator console end to end, in headless Chromium (Debian's, driven by Playwright): an
operator signs in with a token, finds an application by number and sees its item by name, its
timeline in China time (said so) and trace id, its ledger's events as what happened, sees a
dead letter with its reason, replays it once its cause is fixed and sees the application's
timeline take the event; the same pages in English when the browser asks for English; signing
out needs the session's CSRF token; a clerk's token is refused. Screenshots of every page go
to test-artifacts/console/ (TONGBAN_UPDATE_SCREENSHOT=1 also copies one to docs/console.png, the
README's)."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from playwright.async_api import Browser, Page, expect
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from services.console.main import create_app as create_console
from shared.clock import CHINA_TZ
from shared.messaging import deadletters, events, topics
from shared.messaging.envelope import Envelope
from tests import factories
from tests.harness import RunningService, Stack, eventually, serve
from tooling.journey import household_application

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO_ROOT / "test-artifacts" / "console"
JAEGER = "http://jaeger.example:16686"
HEFEI = "340100"
INTAKE_CONSUMER = "tongban.intake.progress"
# The browser of a service hall: it asks for Chinese (Accept-Language: zh-CN), as headless
# Chromium, which asks for en-US unless told, would not.
CHINESE = "zh-CN"


@pytest.fixture(scope="module")
async def console(stack: Stack) -> AsyncIterator[RunningService]:
    urls = {f"{name}_url": stack.services[name].base_url for name in ("intake", "routing")}
    settings = stack.settings.model_copy(
        update={
            **urls,
            "approval_url": stack.services["approval"].base_url,
            "delivery_url": stack.services["delivery"].base_url,
            "jaeger_ui_url": JAEGER,
        }
    )
    running = await serve("console", lambda _: create_console(settings))
    yield running
    await running.stop()


async def shot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")
    return path


async def sign_in(page: Page, console: RunningService, token: str) -> None:
    await page.goto(f"{console.base_url}/")
    await expect(page).to_have_url(re.compile(r"/login$"))  # no session yet
    await page.get_by_label("访问令牌").fill(token)
    await page.get_by_role("button", name="登录").click()


def beijing(moment: datetime) -> str:
    """How the console shows a moment: on the clocks of the service halls."""
    return moment.astimezone(CHINA_TZ).strftime("%Y-%m-%d %H:%M:%S")


async def test_a_clerks_token_is_refused(
    stack: Stack, console: RunningService, browser: Browser
) -> None:
    page = await browser.new_page(locale=CHINESE)
    await sign_in(page, console, stack.token("window_clerk", "341200", window_id="W341200-01"))
    await expect(page.get_by_role("heading", name="无权访问")).to_be_visible()
    await expect(page.get_by_text("仅限运维人员")).to_be_visible()
    await shot(page, "refused")
    # And no session was made: the pages still ask for a login.
    response = await page.goto(f"{console.base_url}/applications")
    assert response is not None
    await expect(page).to_have_url(re.compile(r"/login$"))
    await page.close()


async def test_an_operator_finds_an_application_and_replays_its_dead_letter(
    stack: Stack, console: RunningService, browser: Browser, producer: AIOKafkaProducer
) -> None:
    journey = stack.journey()
    submitted = await journey.submit(household_application(factories.applicant()))
    assert submitted.status_code == 201, submitted.text
    number = submitted.json()["application_no"]
    accepted_at = datetime.fromisoformat(submitted.json()["accepted_at"])
    trace_id = submitted.headers["x-trace-id"]
    await journey.wait_for_case(number, HEFEI)

    page = await browser.new_page(locale=CHINESE, viewport={"width": 1280, "height": 900})
    await sign_in(page, console, stack.token("operator", stack.settings.province))
    await expect(page.get_by_role("heading", name="概览")).to_be_visible()
    await expect(page.get_by_role("heading", name="发件箱（各服务）")).to_be_visible()
    await expect(page.locator(".card", has_text="审计账本")).to_contain_text("校验通过")
    await shot(page, "overview")

    # 办件查询: the status, the timeline, the trace id linked to Jaeger, the verified ledger.
    await page.get_by_role("link", name="办件查询").click()
    await page.get_by_label("办件编号").fill(number)
    await page.get_by_role("button", name="查询").click()
    await expect(page.get_by_role("heading", name=f"办件 {number}")).to_be_visible()
    # The item by its name (with its code), the acceptance at the moment the window was told,
    # in China time and said so.
    await expect(page.locator("#item")).to_have_text("户口迁移证明开具（GA-HJ-001）")
    timeline = page.locator("ol.timeline li")
    await expect(timeline.first).to_contain_text("已受理")
    await expect(timeline.first).to_contain_text("已在 W341200-01 窗口受理")
    await expect(timeline.first.locator("time")).to_have_text(f"{beijing(accepted_at)}（北京时间）")
    await expect(page.locator("#trace-id")).to_contain_text(trace_id)
    jaeger = page.get_by_role("link", name="在 Jaeger 中查看")
    assert await jaeger.get_attribute("href") == f"{JAEGER}/trace/{trace_id}"

    async def ledger_shown() -> bool:
        await page.reload()
        return await page.get_by_text("已验证").count() > 0

    await eventually(ledger_shown)
    await expect(page.get_by_text("账本哈希链与签名校验通过")).to_be_visible()
    # The ledger's events as what happened, not as event types.
    accepted_entry = page.locator('tr[data-event-type="gov.tongban.application.accepted.v1"]')
    await expect(accepted_entry.locator("td.event")).to_have_text("窗口受理")
    await expect(accepted_entry).to_contain_text("（北京时间）")
    # The last verification routing ran in the background, with its time (not recomputed).
    await expect(page.get_by_text("最近一次校验")).to_be_visible()
    await shot(page, "application")

    # 各地队列: the case waits in 合肥's queue with its deadline.
    await page.get_by_role("link", name="各地队列").click()
    await page.get_by_label("地区代码").fill(HEFEI)
    await page.get_by_role("button", name="筛选").click()
    row = page.locator("tr", has=page.get_by_role("link", name=number))
    await expect(row).to_contain_text("审批中")
    await expect(row).to_contain_text("未认领")
    await shot(page, "queues")

    # A fault: intake's database refuses this application's timeline rows (a constraint left
    # behind by mistake), so approval's reminder for it is dead-lettered by intake.
    intake_db = create_async_engine(stack.settings.service_database_url("intake"))
    constraint = "console_test_refuses_" + number.lower()
    async with intake_db.begin() as connection:
        await connection.execute(
            text(
                f"ALTER TABLE timeline_entries ADD CONSTRAINT {constraint} "
                f"CHECK (application_no <> '{number}') NOT VALID"
            )
        )
    reminder = events.CaseDeferredReminder(
        application_no=number,
        locality=HEFEI,
        materials=["M901"],
        due_on=date.today() + timedelta(days=3),
        reminded_at=datetime.now(UTC),
    )
    envelope = stack.signed(
        Envelope.new(reminder, source="/tongban/approval"), topics.APPROVAL_EVENTS
    )
    try:
        key, value, headers = envelope.to_kafka()
        await producer.send_and_wait(topics.APPROVAL_EVENTS, value=value, key=key, headers=headers)

        async def dead_lettered() -> list[deadletters.DeadLetter]:
            letters = await deadletters.list_dead_letters(
                stack.settings, topic=topics.APPROVAL_EVENTS
            )
            return [
                d for d in letters if d.event_id == envelope.id and d.consumer == INTAKE_CONSUMER
            ]

        found = await eventually(dead_lettered)
        assert isinstance(found, list) and len(found) == 1, found
        letter: deadletters.DeadLetter = found[0]
    finally:
        # The cause fixed: the constraint goes.
        async with intake_db.begin() as connection:
            await connection.execute(
                text(f"ALTER TABLE timeline_entries DROP CONSTRAINT IF EXISTS {constraint}")
            )
        await intake_db.dispose()

    # 死信与暂存: the dead letter with its reason, replayed after a confirmation.
    await page.get_by_role("link", name="死信与暂存").click()
    dead_row = page.locator(f'tr[data-dead-letter="{letter.id}"]')
    await expect(dead_row).to_contain_text(INTAKE_CONSUMER)
    await expect(dead_row).to_contain_text("IntegrityError")
    await expect(dead_row).to_contain_text(reminder.event_type)
    await expect(dead_row).to_contain_text("催交容缺材料")
    await shot(page, "dead-letters")
    await dead_row.get_by_role("button", name="重放").click()
    await expect(page.get_by_role("heading", name="确认重放死信")).to_be_visible()
    await expect(page.get_by_text(letter.id)).to_be_visible()
    await page.get_by_role("button", name="确认重放").click()
    await expect(page.get_by_role("status")).to_contain_text("死信已重放")
    await shot(page, "replayed")

    # The effect: intake now took the reminder, and the timeline shows it.
    async def reminder_on_timeline() -> bool:
        await page.goto(f"{console.base_url}/applications?no={number}")
        return await page.locator("ol.timeline li", has_text="M901").count() == 1

    await eventually(reminder_on_timeline)
    await expect(page.locator("ol.timeline li", has_text="M901")).to_contain_text("容缺")
    path = await shot(page, "application-after-replay")
    if os.environ.get("TONGBAN_UPDATE_SCREENSHOT"):  # the README's picture, refreshed on demand
        shutil.copyfile(path, REPO_ROOT / "docs" / "console.png")
    await page.close()


async def test_the_console_speaks_english_when_the_browser_asks_for_it(
    stack: Stack, console: RunningService, browser: Browser
) -> None:
    journey = stack.journey()
    submitted = await journey.submit(household_application(factories.applicant()))
    assert submitted.status_code == 201, submitted.text
    number = submitted.json()["application_no"]
    accepted_at = datetime.fromisoformat(submitted.json()["accepted_at"])

    page = await browser.new_page(locale="en-GB")  # Accept-Language: en-GB
    await page.goto(f"{console.base_url}/login")
    await page.get_by_label("Access token").fill(stack.token("operator", stack.settings.province))
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    assert await page.locator("html").get_attribute("lang") == "en"

    await page.goto(f"{console.base_url}/applications?no={number}")
    await expect(page.get_by_role("heading", name=f"Application {number}")).to_be_visible()
    await expect(page.locator("#item")).to_have_text("户口迁移证明开具 (GA-HJ-001)")
    first = page.locator("ol.timeline li").first
    await expect(first).to_contain_text("Accepted")
    await expect(first.locator("time")).to_have_text(f"{beijing(accepted_at)} (Beijing time)")
    await shot(page, "application-english")
    await page.close()


async def test_signing_out_needs_the_sessions_csrf_token(
    stack: Stack, console: RunningService, browser: Browser
) -> None:
    page = await browser.new_page(locale=CHINESE)
    await sign_in(page, console, stack.token("operator", stack.settings.province))
    await expect(page.get_by_role("heading", name="概览")).to_be_visible()
    sign_out = page.locator('form[action="/logout"]')

    # A form without the token (as another site's would be) is refused, and the session stays.
    await sign_out.locator('input[name="csrf"]').evaluate("field => field.remove()")
    await sign_out.get_by_role("button", name="退出").click()
    await expect(page.get_by_role("heading", name="无权访问")).to_be_visible()
    await expect(page.get_by_text("表单已失效")).to_be_visible()
    await page.goto(f"{console.base_url}/")
    await expect(page.get_by_role("heading", name="概览")).to_be_visible()

    # With the session's token: signed out, and the pages ask for a login again.
    await page.locator('form[action="/logout"]').get_by_role("button", name="退出").click()
    await expect(page).to_have_url(re.compile(r"/login$"))
    await page.goto(f"{console.base_url}/queues")
    await expect(page).to_have_url(re.compile(r"/login$"))
    await page.close()
