"""The applicants' portal end to end over HTTP against the real stack: real-name sign-in with
the code read from the SMS gateway simulator (its own process), online submission through
intake's online routes with the one-time notice, and another applicant's number answering 404.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import select

from services.portal.db import SmsReportRow
from services.portal.main import create_app as create_portal
from shared.db import Database
from shared.db.migrations import upgrade_async
from shared.settings import with_database
from shared.sms import REPORT_PATH, SIGNATURE_HEADER, report_signature
from tests.harness import RunningService, Stack
from tooling.infra import ensure_databases
from tooling.journey import HOUSEHOLD_REGISTER_SCAN, ID_CARD_SCAN, poll_until
from tooling.sms_gateway.control import SmsGatewayControl

# The built-in registry of residents (services/portal/data/residents.csv).
ZHANG = ("340104199005170018", "张晓明", "13805510000")
LI = ("340104199005170026", "李娜", "13805510001")
CHINESE = {"Accept-Language": "zh-CN"}


@pytest.fixture(scope="module")
async def portal(stack: Stack, sms_gateway: SmsGatewayControl) -> AsyncIterator[RunningService]:
    database = with_database(stack.settings.database_url, "tongban_test_portal")
    await asyncio.to_thread(
        ensure_databases, stack.settings.database_url, ["tongban_test_portal"], recreate=True
    )
    await upgrade_async("portal", database)
    settings = stack.settings.model_copy(
        update={
            "intake_url": stack.services["intake"].base_url,
            "delivery_url": stack.services["delivery"].base_url,
            "portal_database_url": database,
        }
    )
    # Started in the stack: the SMS gateway's delivery reports are pointed at it.
    # A portal's SMS references are its own database's notification ids, which start again with
    # each module's fresh database, and the session's simulator keeps a message per reference:
    # it starts and ends each module empty (else a text would count as sent before).
    await sms_gateway.reset()
    await stack.start("portal", lambda _: create_portal(settings))
    yield stack.services["portal"]
    await stack.stop_service("portal")
    await sms_gateway.reset()


def portal_database(stack: Stack) -> Database:
    return Database(with_database(stack.settings.database_url, "tongban_test_portal"))


async def request_code(
    http: httpx.AsyncClient, sms: SmsGatewayControl, resident: tuple[str, str, str]
) -> tuple[str, str]:
    """Ask for a code; the challenge id from the page and the code from the SMS sent."""
    id_number, _name, phone = resident
    page = await http.post("/signin", data={"id_number": id_number})
    assert page.status_code == 200
    challenge_id = re.search(r'name="challenge_id" value="([^"]+)"', page.text)
    assert challenge_id is not None
    sent = await sms.messages(to=phone, reference=challenge_id.group(1))
    assert len(sent) == 1, sent
    code = re.search(r"\d{6}", sent[0]["text"])
    assert code is not None
    assert "验证码" in sent[0]["text"]  # the SMS reads in Chinese
    return challenge_id.group(1), code.group(0)


async def signed_in(
    portal: RunningService, sms: SmsGatewayControl, resident: tuple[str, str, str]
) -> httpx.AsyncClient:
    http = httpx.AsyncClient(base_url=portal.base_url, headers=CHINESE, timeout=30)
    challenge_id, code = await request_code(http, sms, resident)
    answer = await http.post(
        "/signin/code", data={"challenge_id": challenge_id, "code": code, "name": resident[1]}
    )
    assert answer.status_code == 303, answer.text
    return http


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found is not None
    return found.group(1)


async def test_sign_in_with_the_code_from_the_sms_once_and_only_once(
    stack: Stack, portal: RunningService, sms_gateway: SmsGatewayControl
) -> None:
    async with httpx.AsyncClient(base_url=portal.base_url, headers=CHINESE) as http:
        assert (await http.get("/applications")).status_code == 303  # to the sign-in page
        challenge_id, code = await request_code(http, sms_gateway, ZHANG)
        wrong = "000000" if code != "000000" else "111111"
        refused = await http.post(
            "/signin/code", data={"challenge_id": challenge_id, "code": wrong}
        )
        assert refused.status_code == 401 and "验证码错误" in refused.text
        accepted = await http.post(
            "/signin/code", data={"challenge_id": challenge_id, "code": code, "name": ZHANG[1]}
        )
        assert accepted.status_code == 303
        cookie = accepted.cookies.get("tongban_portal_session")
        assert cookie and "HttpOnly" in accepted.headers["set-cookie"]
        assert "samesite=lax" in accepted.headers["set-cookie"].lower()
        mine = await http.get("/applications")
        assert mine.status_code == 200 and "我的办件" in mine.text
        assert (await http.get("/v1/me", headers={"Authorization": f"Bearer {cookie}"})).json() == {
            "level": "L3"
        }
        # The same code again: used, whoever sends it.
        async with httpx.AsyncClient(base_url=portal.base_url, headers=CHINESE) as other:
            replay = await other.post(
                "/signin/code", data={"challenge_id": challenge_id, "code": code}
            )
            assert replay.status_code == 401 and "已使用" in replay.text

        # The gateway's signed delivery report of the code reached the portal.
        database = portal_database(stack)

        async def reported() -> str | None:
            async with database.transaction() as session:
                found = await session.scalar(
                    select(SmsReportRow.status).where(SmsReportRow.reference == challenge_id)
                )
            return found

        try:
            status = await poll_until(reported, within=30, failure="no delivery report")
        finally:
            await database.dispose()
        assert status == "delivered"
        # A forged cookie is no session.
        forged = cookie.rsplit(".", 1)[0] + ".0" * 32
        api = await http.get("/v1/me", headers={"Authorization": f"Bearer {forged}"})
        assert api.status_code == 401


async def test_an_unregistered_id_gets_the_same_answer_and_no_sms(
    portal: RunningService, sms_gateway: SmsGatewayControl
) -> None:
    async with httpx.AsyncClient(base_url=portal.base_url, headers=CHINESE) as http:
        page = await http.post("/signin", data={"id_number": "340104199001010011"})
        assert page.status_code == 200 and 'name="challenge_id"' in page.text
        challenge_id = re.search(r'name="challenge_id" value="([^"]+)"', page.text)
        assert challenge_id is not None
        assert await sms_gateway.messages(reference=challenge_id.group(1)) == []


async def test_a_code_without_the_name_reaches_l2_which_cannot_apply(
    portal: RunningService, sms_gateway: SmsGatewayControl
) -> None:
    async with httpx.AsyncClient(base_url=portal.base_url, headers=CHINESE) as http:
        challenge_id, code = await request_code(http, sms_gateway, LI)
        await http.post("/signin/code", data={"challenge_id": challenge_id, "code": code})
        assert (await http.get("/applications")).status_code == 200
        apply = await http.get("/guides/GA-HJ-001/apply")
        assert apply.status_code == 303 and "level=3" in apply.headers["location"]


async def test_online_submission_the_one_time_notice_and_another_applicants_404(
    portal: RunningService, sms_gateway: SmsGatewayControl
) -> None:
    zhang = await signed_in(portal, sms_gateway, ZHANG)
    form = await zhang.get("/guides/GA-HJ-001/apply")
    assert form.status_code == 200
    csrf = csrf_of(form.text)
    common = {"csrf": csrf, "delivery_method": "window_pickup", "window_id": "W340104-01"}
    # Nothing handed in: the one-time notice lists every problem on the page.
    notice = await zhang.post("/guides/GA-HJ-001/apply", data=common | {"key": "k-empty"})
    assert notice.status_code == 422
    assert "一次性告知" in notice.text and "M01" in notice.text and "M03" in notice.text
    # The ID card's scan, a commitment for M03 and the register copy deferred (容缺).
    accepted = await zhang.post(
        "/guides/GA-HJ-001/apply",
        data=common | {"key": "k-full", "commit_M03": "yes"},
        files={"file_M01": ("id-card.pdf", ID_CARD_SCAN, "application/pdf")},
    )
    assert accepted.status_code == 303, accepted.text
    location = accepted.headers["location"]
    number = location.rsplit("/", 1)[1]
    page = await zhang.get(location)
    assert page.status_code == 200 and number in page.text
    # The timeline's first step, whatever status the pipeline has reached by now (a quiet
    # machine routes it within milliseconds: the status alone may already read 已分送).
    assert "网上申报，已由 W340104-01 窗口受理" in page.text
    assert "M02" in page.text  # the deferred register copy, to hand in online
    listed = await zhang.get("/applications")
    assert number in listed.text
    # A scan that is not a PDF, JPEG or PNG is refused at upload, as at a window.
    refused = await zhang.post(
        "/guides/GA-HJ-001/apply",
        data=common | {"key": "k-text", "commit_M03": "yes"},
        files={"file_M01": ("id-card.txt", b"not a scan at all", "text/plain")},
    )
    assert refused.status_code == 422 and "M01" in refused.text
    # The deferred copy handed in online.
    supplement = await zhang.post(
        f"/applications/{number}/supplements",
        data={"csrf": csrf},
        files={"file_M02": ("register.pdf", HOUSEHOLD_REGISTER_SCAN, "application/pdf")},
    )
    assert supplement.status_code == 303, supplement.text

    li = await signed_in(portal, sms_gateway, LI)
    assert (await li.get(f"/applications/{number}")).status_code == 404
    assert number not in (await li.get("/applications")).text
    cookie = li.cookies.get("tongban_portal_session")
    api = await li.get(
        f"/v1/me/applications/{number}", headers={"Authorization": f"Bearer {cookie}"}
    )
    assert api.status_code == 404
    await zhang.aclose()
    await li.aclose()


async def test_delivery_reports_are_taken_only_when_signed(
    portal: RunningService, sms_report_secret: bytes
) -> None:
    body = json.dumps(
        {
            "message_id": "m-1",
            "reference": "challenge-x",
            "status": "delivered",
            "at": "2026-12-02T09:00:00+00:00",
        }
    ).encode()
    async with httpx.AsyncClient(base_url=portal.base_url) as http:
        forged = await http.post(REPORT_PATH, content=body, headers={SIGNATURE_HEADER: "0" * 64})
        assert forged.status_code == 401
        signed = {SIGNATURE_HEADER: report_signature(sms_report_secret, body)}
        assert (await http.post(REPORT_PATH, content=body, headers=signed)).status_code == 204
        # The same report again changes nothing and is answered alike.
        assert (await http.post(REPORT_PATH, content=body, headers=signed)).status_code == 204


WANG = ("340104199005170034", "王强", "13805510002")


async def test_the_wallet_holds_the_approved_certificate_and_only_its_holder_gets_its_pdf(
    stack: Stack, portal: RunningService, sms_gateway: SmsGatewayControl
) -> None:
    wang = await signed_in(portal, sms_gateway, WANG)
    csrf = csrf_of((await wang.get("/guides/GA-HJ-001/apply")).text)
    accepted = await wang.post(
        "/guides/GA-HJ-001/apply",
        data={
            "csrf": csrf,
            "key": "k-wallet",
            "delivery_method": "window_pickup",
            "window_id": "W340104-01",
            "commit_M03": "yes",
        },
        files={
            "file_M01": ("id-card.pdf", ID_CARD_SCAN, "application/pdf"),
            "file_M02": ("register.pdf", HOUSEHOLD_REGISTER_SCAN, "application/pdf"),
        },
    )
    assert accepted.status_code == 303, accepted.text
    number = accepted.headers["location"].rsplit("/", 1)[1]
    window = stack.journey("W340104-01", "340104")
    await window.approve(number, "340100")

    async def certificate() -> str | None:
        page = await wang.get("/wallet")
        found = re.search(r'href="/wallet/([^"/]+)\.pdf"', page.text)
        return found.group(1) if found else None

    certificate_no = await poll_until(
        certificate, within=60, failure="no certificate in the wallet"
    )
    wallet = (await wang.get("/wallet")).text
    assert "核验码" in wallet and "有效" in wallet
    detail = await wang.get(f"/applications/{number}")
    assert certificate_no in detail.text
    document = await wang.get(f"/wallet/{certificate_no}.pdf")
    assert document.status_code == 200 and document.content.startswith(b"%PDF")
    li = await signed_in(portal, sms_gateway, LI)
    assert (await li.get(f"/wallet/{certificate_no}.pdf")).status_code == 404
    assert certificate_no not in (await li.get("/wallet")).text
    # Picked up at the chosen window; then rated online, once.
    handed = await window.hand_over(number, WANG[0])
    assert handed.status_code == 200, handed.text
    await window.wait_for_status(number, "delivered")
    page = await wang.get(f"/applications/{number}")
    assert "评价本次服务" in page.text
    rating = {"csrf": csrf_of(page.text), "score": "5", "comment": "网上办很方便"}
    rated = await wang.post(f"/applications/{number}/evaluation", data=rating)
    assert rated.status_code == 303, rated.text
    again = await wang.post(f"/applications/{number}/evaluation", data=rating)
    assert again.status_code == 422
    # Another applicant, with her own session's CSRF token: as if there were no such number.
    theirs = rating | {"csrf": csrf_of((await li.get("/applications")).text)}
    assert (await li.post(f"/applications/{number}/evaluation", data=theirs)).status_code == 404
    await wang.aclose()
    await li.aclose()


CHEN = ("341200198503080011", "陈静", "13905580000")


async def test_too_many_wrong_codes_stop_the_challenge_then_the_id_number(
    portal: RunningService, sms_gateway: SmsGatewayControl
) -> None:
    async with httpx.AsyncClient(base_url=portal.base_url, headers=CHINESE) as http:

        async def attempt(challenge_id: str, code: str) -> httpx.Response:
            return await http.post(
                "/signin/code", data={"challenge_id": challenge_id, "code": code}
            )

        def wrong(code: str) -> str:
            return f"{(int(code) + 1) % 1_000_000:06d}"

        first, code = await request_code(http, sms_gateway, CHEN)
        for _guess in range(5):  # MAX_GUESSES_PER_CODE
            assert (await attempt(first, wrong(code))).status_code == 401
        # The right code after five wrong ones: the challenge is spent (a sixth failure).
        spent = await attempt(first, code)
        assert spent.status_code == 401 and "错误次数过多" in spent.text
        second, code = await request_code(http, sms_gateway, CHEN)
        for _guess in range(4):  # the tenth failure of this ID number (MAX_FAILURES_PER_ID)
            assert (await attempt(second, wrong(code))).status_code == 401
        # Within the window: no more tries, even with the right code, and no more codes.
        stopped = await attempt(second, code)
        assert stopped.status_code == 429 and "尝试次数过多" in stopped.text
        assert (await http.post("/signin", data={"id_number": CHEN[0]})).status_code == 429


async def test_pages_read_in_chinese_unless_english_is_asked_for(portal: RunningService) -> None:
    async with httpx.AsyncClient(base_url=portal.base_url) as http:
        chinese = await http.get("/guides/GA-HJ-001")
        assert chinese.status_code == 200 and 'lang="zh-CN"' in chinese.text
        assert "申请材料" in chinese.text and "L3" in chinese.text
        assert "default-src 'none'" in chinese.headers["content-security-policy"]
        english = await http.get("/guides/GA-HJ-001", headers={"Accept-Language": "en"})
        assert 'lang="en"' in english.text and "Materials" in english.text
        found = await http.get("/guides", params={"q": "ＧＡ－ＨＪ"})  # full-width input
        assert "GA-HJ-001" in found.text and "GA-HJ-002" in found.text


ZHAO = ("340100198807210018", "赵敏", "13605510000")


async def test_a_gateway_that_fails_is_said_so_and_the_next_request_sends(
    portal: RunningService, sms_gateway: SmsGatewayControl
) -> None:
    async with httpx.AsyncClient(base_url=portal.base_url, headers=CHINESE) as http:
        await sms_gateway.fail(1)
        failed = await http.post("/signin", data={"id_number": ZHAO[0]})
        assert failed.status_code == 503 and "验证码发送失败" in failed.text
        assert await sms_gateway.messages(to=ZHAO[2]) == []
        challenge_id, code = await request_code(http, sms_gateway, ZHAO)
        signed = await http.post(
            "/signin/code", data={"challenge_id": challenge_id, "code": code, "name": ZHAO[1]}
        )
        assert signed.status_code == 303


LIU = ("340200199211020010", "刘洋", "13705530000")


async def test_a_supplement_the_approver_asks_for_is_handed_in_online(
    stack: Stack, portal: RunningService, sms_gateway: SmsGatewayControl
) -> None:
    liu = await signed_in(portal, sms_gateway, LIU)
    csrf = csrf_of((await liu.get("/guides/GA-HJ-001/apply")).text)
    accepted = await liu.post(
        "/guides/GA-HJ-001/apply",
        data={
            "csrf": csrf,
            "key": "k-supplement",
            "delivery_method": "window_pickup",
            "window_id": "W340200-01",
            "commit_M03": "yes",
        },
        files={
            "file_M01": ("id-card.pdf", ID_CARD_SCAN, "application/pdf"),
            "file_M02": ("register.pdf", HOUSEHOLD_REGISTER_SCAN, "application/pdf"),
        },
    )
    assert accepted.status_code == 303, accepted.text
    number = accepted.headers["location"].rsplit("/", 1)[1]
    approver = stack.journey("W340200-01", "340200")
    await approver.wait_for_case(number, "340200")
    await approver.claim(number, "340200")
    await approver.request_supplement(number, "340200", ["M02"], "户口簿复印件不清晰")
    await approver.wait_for_status(number, "supplement_requested")
    page = await liu.get(f"/applications/{number}")
    assert "待补正" in page.text  # the status, in words
    assert 'name="file_M02"' in page.text
    handed = await liu.post(
        f"/applications/{number}/supplements",
        data={"csrf": csrf_of(page.text)},
        files={"file_M02": ("register-clear.pdf", HOUSEHOLD_REGISTER_SCAN, "application/pdf")},
    )
    assert handed.status_code == 303, handed.text
    await approver.wait_for_status(number, "supplement_submitted")
    await liu.aclose()
