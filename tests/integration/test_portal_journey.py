"""An applicant's whole online journey (全程网办) in Debian's headless Chromium on a phone-sized
screen, driven by Playwright against the real stack, with axe-core in every page.

She signs in with the code read from the SMS gateway simulator's control API; an earlier
application of hers at her county's window (户口登记项目变更, GA-HJ-002) is approved, so its
e-certificate is in her wallet; she searches the guide of 户口迁移证明 (GA-HJ-001), sees the
register copy covered by that certificate (免证办), sends the form empty and reads the one-time
notice, then applies with her ID card's scan uploaded and the certificate cited; the approver
(through approval's API) asks for a supplement; the SMS telling her so arrives; she hands it in
online; she sees the approval, downloads the certificate's PDF and, once it is picked up, rates
the service. A second applicant gets 404 on her number.

Every page reads in Chinese and passes axe-core with no serious or critical violation. The axe
summary and the journey's SMS are printed and written to test-artifacts/portal/ (axe-summary.txt,
sms.txt) with the screenshots (TONGBAN_UPDATE_SCREENSHOT=1 also copies these to
docs/portal-*.png, the README's).
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, BrowserContext, FilePayload, Page, expect

from services.portal.main import create_app as create_portal
from shared.db.migrations import upgrade_async
from shared.identity import sample_resident_id
from shared.settings import with_database
from tests.accessibility import AxeReport, axe_source
from tests.harness import RunningService, Stack
from tooling.infra import Infrastructure, ensure_databases
from tooling.journey import (
    AUTHORIZATION_SCAN,
    HOUSEHOLD_REGISTER_SCAN,
    ID_CARD_SCAN,
    poll_until,
    sample_pdf,
    scan_digest,
)
from tooling.sms_gateway.control import SmsGatewayControl

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO_ROOT / "test-artifacts" / "portal"
DATABASE = "tongban_test_portal_journey"
# A phone in a Chinese-speaking hand: its browser asks for Chinese.
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True}
CHINESE = "zh-CN"
# Her county's window (蜀山区, 合肥): it receives both applications, the result is picked up there.
WINDOW = ("W340104-01", "340104")
HEFEI = "340100"


@dataclass(frozen=True)
class Resident:
    id_number: str
    name: str
    phone: str


# Residents of this module's own registry (PORTAL_RESIDENTS_FILE): nobody else's test touches
# their applications, so the pages show only this journey's.
SUN = Resident(sample_resident_id("340104", date(1993, 4, 12), 22), "孙丽", "13805519920")
ZHOU = Resident(sample_resident_id("340104", date(1987, 9, 3), 11), "周杰", "13805519911")


@pytest.fixture(scope="module")
async def portal(
    stack: Stack,
    infrastructure: Infrastructure,
    sms_gateway: SmsGatewayControl,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[str]:
    residents = tmp_path_factory.mktemp("residents") / "residents.csv"
    residents.write_text(
        "id_number,name,phone\n"
        + "".join(f"{r.id_number},{r.name},{r.phone}\n" for r in (SUN, ZHOU)),
        encoding="utf-8",
    )
    database = with_database(stack.settings.database_url, DATABASE)
    await asyncio.to_thread(
        ensure_databases, stack.settings.database_url, [DATABASE], recreate=True
    )
    await upgrade_async("portal", database)
    # Its own Kafka principal (portal), as in `make run`: it reads the facts it texts about.
    settings = stack.settings.model_copy(
        update={
            **infrastructure.kafka_settings("portal"),
            "intake_url": stack.services["intake"].base_url,
            "delivery_url": stack.services["delivery"].base_url,
            "portal_database_url": database,
            "portal_residents_file": str(residents),
        }
    )
    # The session's SMS simulator keeps a message per reference, and a portal's references are
    # its own database's notification ids: another module's portal used the same ones, so the
    # simulator starts and ends this module empty (else a text would count as sent before).
    await sms_gateway.reset()
    await stack.start("portal", lambda _: create_portal(settings))
    running: RunningService = stack.services["portal"]
    yield running.base_url
    await stack.stop_service("portal")
    await sms_gateway.reset()


@pytest.fixture(scope="module", autouse=True)
def axe_installed() -> None:
    """Before anything runs in the event loop (npm ci takes a few seconds when needed)."""
    axe_source()


async def phone(browser: Browser) -> BrowserContext:
    context = await browser.new_context(locale=CHINESE, **PHONE)  # type: ignore[arg-type]
    # A page answers in well under a second here; a step that waits longer has failed.
    context.set_default_timeout(10_000)
    return context


async def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    if os.environ.get("TONGBAN_UPDATE_SCREENSHOT") == "1":
        shutil.copyfile(path, REPO_ROOT / "docs" / f"portal-{name}.png")


async def reads_chinese(page: Page) -> None:
    """The page says it is Chinese and shows Chinese: its heading has Han characters."""
    assert await page.locator("html").get_attribute("lang") == "zh-CN"
    await expect(page.locator("h1")).to_have_text(re.compile(r"[\u4e00-\u9fff]"))


async def sign_in(
    page: Page, base_url: str, sms: SmsGatewayControl, who: Resident, axe: AxeReport
) -> None:
    """Real-name sign-in (L3): the code is the one the SMS gateway simulator was given."""
    await page.goto(f"{base_url}/signin")
    await page.get_by_label("身份证号码").fill(who.id_number)
    await page.get_by_role("button", name="获取验证码").click()
    challenge = await page.locator('input[name="challenge_id"]').get_attribute("value")
    assert challenge
    (sent,) = await sms.messages(to=who.phone, reference=challenge)
    assert "验证码" in sent["text"]
    code = re.search(r"\d{6}", sent["text"])
    assert code is not None
    await checked(page, axe, "signin-code", screenshot=True)
    await page.get_by_label("短信验证码").fill(code.group(0))
    await page.get_by_label(re.compile("您的姓名")).fill(who.name)
    await page.get_by_role("button", name="登录").click()
    await expect(page.get_by_role("heading", name="我的办件")).to_be_visible()


async def checked(page: Page, axe: AxeReport, name: str, screenshot: bool = False) -> None:
    await reads_chinese(page)
    await axe.check(page, name)
    if screenshot:
        await shot(page, name)


async def submit_form(page: Page) -> None:
    await page.get_by_role("button", name="提交申请").click()
    await expect(page.get_by_role("heading", name=re.compile(r"^办件 TB"))).to_be_visible()


def scan(name: str, content: bytes) -> FilePayload:
    """A file as the phone's file picker hands it to the form."""
    return {"name": name, "mimeType": "application/pdf", "buffer": content}


def number_of(page: Page) -> str:
    return page.url.rsplit("/", 1)[1]


def register_correction(who: Resident) -> dict[str, Any]:
    """GA-HJ-002 handed in at a window: every original checked there, a commitment for M04."""
    scans = {"M01": ID_CARD_SCAN, "M02": HOUSEHOLD_REGISTER_SCAN, "M03": AUTHORIZATION_SCAN}
    return {
        "item_code": "GA-HJ-002",
        "applicant": {
            "kind": "person",
            "name": who.name,
            "id_type": "resident_id",
            "id_number": who.id_number,
            "phone": who.phone,
            "locality": WINDOW[1],
        },
        "materials": [
            {"material_code": code, "sha256": scan_digest(scan), "original_verified": True}
            for code, scan in scans.items()
        ],
        "commitments": ["M04"],
        "delivery": {"method": "window_pickup"},
    }


async def test_an_applicant_applies_online_from_her_phone_and_follows_it_to_the_end(
    stack: Stack, portal: str, sms_gateway: SmsGatewayControl, browser: Browser
) -> None:
    started = time.monotonic()
    axe = AxeReport()
    context = await phone(browser)
    page = await context.new_page()
    window = stack.journey(*WINDOW)

    # The start page, read without signing in (L0).
    await page.goto(f"{portal}/")
    await expect(page.get_by_role("heading", name="全省通办，网上办理")).to_be_visible()
    await checked(page, axe, "home", screenshot=True)
    await page.get_by_role("link", name="登录").click()
    await checked(page, axe, "signin")
    await sign_in(page, portal, sms_gateway, SUN, axe)
    await checked(page, axe, "applications-empty")

    # Earlier, at her county's window, her register was corrected (GA-HJ-002, its originals
    # checked there); approved, its e-certificate is hers to cite.
    correction = await window.submit(register_correction(SUN))
    assert correction.status_code == 201, correction.text
    await window.approve(correction.json()["application_no"], WINDOW[1])
    await page.goto(f"{portal}/wallet")

    async def in_wallet() -> str | None:
        await page.reload()
        found = page.locator("a[href^='/wallet/'][href$='.pdf']")
        href = await found.first.get_attribute("href") if await found.count() else None
        return href.removeprefix("/wallet/").removesuffix(".pdf") if href else None

    register_certificate = await poll_until(
        in_wallet, within=30, failure="the register's certificate never reached the wallet"
    )
    await expect(page.get_by_text("有效", exact=True)).to_be_visible()
    await checked(page, axe, "wallet", screenshot=True)

    # 事前辅导: she searches the guide and sees what her own certificate spares her (免证办).
    await page.get_by_role("link", name="办事指南").click()
    await page.get_by_label("按事项名称或编码查找").fill("户口迁移")
    await page.get_by_role("button", name="查询").click()
    await checked(page, axe, "search", screenshot=True)
    await page.get_by_role("link", name="户口迁移证明开具").click()
    await expect(page.get_by_text(f"本人电子证照 {register_certificate} 可免交")).to_be_visible()
    await checked(page, axe, "guide", screenshot=True)

    # Online submission: the ID card's scan uploaded, the register copy proven by the
    # certificate (the form offers it), a commitment for the kinship proof, her county's window.
    await page.get_by_role("link", name="在线申报").click()
    cite = page.get_by_label("或填写可证明该材料的本人电子证照编号")
    await expect(cite).to_have_value(register_certificate)
    # Sent before anything else is filled in: the one-time notice lists every problem at once.
    await page.get_by_label(re.compile("^办理窗口")).select_option(WINDOW[0])
    await page.get_by_role("button", name="提交申请").click()
    notice = page.get_by_role("alert")
    await expect(notice).to_contain_text("一次性告知")
    await expect(notice.locator("li", has_text="M01")).to_be_visible()
    await expect(notice.locator("li", has_text="M03")).to_be_visible()
    await checked(page, axe, "notice", screenshot=True)
    # The form comes back as she left it: her certificate offered, her window chosen.
    await expect(cite).to_have_value(register_certificate)
    await expect(page.get_by_label(re.compile("^办理窗口"))).to_have_value(WINDOW[0])
    await page.set_input_files("#file_M01", files=scan("id-card.pdf", ID_CARD_SCAN))
    await page.get_by_label("我以书面承诺代替（告知承诺）").check()
    await checked(page, axe, "apply", screenshot=True)
    await submit_form(page)
    number = number_of(page)
    await expect(page.get_by_text("已受理").first).to_be_visible()
    await checked(page, axe, "accepted", screenshot=True)

    # 合肥's approver wants the kinship proof itself, not the commitment (补正).
    await window.wait_for_case(number, HEFEI)
    await window.claim(number, HEFEI)
    await window.request_supplement(number, HEFEI, ["M03"], "请补交亲属关系证明")
    await window.wait_for_status(number, "supplement_requested")

    # ... and she hears it by SMS, with the application's number and what is missing.
    async def told() -> dict[str, str] | None:
        sent = await sms_gateway.messages(to=SUN.phone)
        return next((m for m in sent if number in m["text"] and "补正" in m["text"]), None)

    supplement_sms = await poll_until(told, within=30, failure="no SMS about the supplement")
    print(f"supplement SMS: {supplement_sms['text']}")

    # She hands it in online, from the application's page.
    await page.reload()
    await expect(page.get_by_text("待补正").first).to_be_visible()
    await checked(page, axe, "supplement", screenshot=True)
    kinship = sample_pdf("Proof of kinship (scan)")
    await page.set_input_files("#file_M03", files=scan("kinship.pdf", kinship))
    await page.get_by_role("button", name="提交", exact=True).click()
    await expect(page.get_by_role("alert")).to_have_count(0)
    await window.wait_for_status(number, "supplement_submitted")
    # The case resumes once approval has read the supplement (intake knows it first).
    await window.wait_for_case_status(number, HEFEI, "in_review")

    # Approved: the page shows the certificate; she downloads its PDF with her session.
    await window.approve(number, HEFEI)
    # Delivery's registry (the certificate on her page) may know it before intake's timeline.
    await window.wait_for_status(number, "approved")

    async def certificate_shown() -> str | None:
        await page.reload()
        link = page.get_by_role("link", name="下载 PDF")
        return await link.get_attribute("href") if await link.count() else None

    pdf_link = await poll_until(certificate_shown, within=30, failure="no certificate shown")
    certificate_no = pdf_link.removeprefix("/wallet/").removesuffix(".pdf")
    await expect(page.locator("table")).to_contain_text(f"审批通过，证照编号 {certificate_no}")
    await checked(page, axe, "approved", screenshot=True)
    document = await page.request.get(f"{portal}{pdf_link}")
    assert document.status == 200 and (await document.body()).startswith(b"%PDF")
    assert document.headers["content-type"] == "application/pdf"

    # Picked up at her window; then she rates the service, once.
    handed = await window.hand_over(number, SUN.id_number)
    assert handed.status_code == 200, handed.text
    await window.wait_for_status(number, "delivered")
    await page.reload()
    await expect(page.get_by_role("heading", name="评价本次服务")).to_be_visible()
    await page.get_by_label("评分（5 分为非常满意）").select_option("5")
    await page.get_by_label("评价内容").fill("在手机上就办完了，很方便")
    await checked(page, axe, "rate", screenshot=True)
    await page.get_by_role("button", name="评价", exact=True).click()
    await expect(page).to_have_url(re.compile(rf"/applications/{number}$"))
    await page.get_by_role("button", name="评价", exact=True).click()  # a second time: refused
    await expect(page.get_by_role("alert")).to_contain_text("已评价")
    await checked(page, axe, "rated")
    await context.close()

    # Her texts about this application, in Chinese, each with its number; the last one says
    # the result was handed to her.
    async def all_told() -> list[str] | None:
        texts = [m["text"] for m in await sms_gateway.messages(to=SUN.phone) if number in m["text"]]
        return texts if any("已送达" in text for text in texts) else None

    texts = await poll_until(all_told, within=30, failure="no SMS that the result was delivered")
    assert all(text.startswith("【通办】") for text in texts), texts
    print("SMS of the journey:", *texts, sep="\n  ")
    (ARTIFACTS / "sms.txt").write_text("\n".join(texts) + "\n", encoding="utf-8")

    # Another applicant, signed in on his own phone: her number is no application of his.
    other = await phone(browser)
    his = await other.new_page()
    await sign_in(his, portal, sms_gateway, ZHOU, axe)
    refused = await his.goto(f"{portal}/applications/{number}")
    assert refused is not None and refused.status == 404
    await checked(his, axe, "not-found", screenshot=True)
    assert (await his.request.get(f"{portal}{pdf_link}")).status == 404
    await other.close()

    # Kept beside the screenshots, to quote.
    print(axe.summary())
    (ARTIFACTS / "axe-summary.txt").write_text(axe.summary() + "\n", encoding="utf-8")
    print(f"journey in {time.monotonic() - started:.1f} s")
    assert axe.blocking() == [], "\n".join(str(v) for v in axe.blocking())
    assert min(axe.rules_passed) >= 10, "a page axe found almost nothing to check on"


async def test_axe_finds_what_a_page_lacks(browser: Browser) -> None:
    """The check above is no formality: an image without a text and a field without a label
    are found, and both stop a page."""
    context = await phone(browser)
    page = await context.new_page()
    await page.set_content(
        '<html lang="zh-CN"><head><title>缺陷</title></head><body><main><h1>缺陷</h1>'
        '<img src="data:,"><input id="x"></main></body></html>'
    )
    axe = AxeReport()
    found = {(v.rule, v.impact) for v in await axe.check(page, "broken")}
    assert {("image-alt", "critical"), ("label", "critical")} <= found
    assert len(axe.blocking()) >= 2
    await context.close()
