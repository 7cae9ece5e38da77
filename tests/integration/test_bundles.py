"""一件事一次办 on the real broker and database: a bundle application is handed in once at a
window and answered with one combined one-time notice or one receipt; its children travel as
ordinary applications, and a child waiting for a sibling's certificate is released with that
certificate cited (免证办) once approval issues it.

新生儿出生 for a 合肥 (蜀山区) family at a 阜阳 window: 出生医学证明 (卫生健康委员会) first;
出生登记 (公安局) waits for it; 医保参保 (医疗保障局, 蜀山区) and 社会保障卡 (人力资源和社会保障局,
合肥市) wait for the household register the registration issues."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from playwright.async_api import Browser, expect
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import create_async_engine

from services.console.main import create_app as create_console
from services.intake.usecases import bundle_manager
from shared.certificates import CertificateContent
from shared.db.messaging_tables import outbox
from shared.identity import id_number_digest
from shared.messaging import events, topics
from shared.workdays import add_working_days
from tests import factories
from tests.certificates import certificate_issued
from tests.harness import RunningService, Stack, serve
from tests.integration.test_certificate_documents import verification_url, verify
from tests.integration.test_console import CHINESE, JAEGER, shot, sign_in
from tests.integration.test_exempt_certificates import known_to_intake
from tooling.bundle_journey import (
    bundle_state,
    bundle_timeline,
    newborn_bundle,
    released,
    submit_bundle,
)
from tooling.journey import Journey, poll_until

pytestmark = pytest.mark.integration

SHUSHAN = "340104"
HEFEI = "340100"


@pytest.fixture(scope="module")
async def console(stack: Stack) -> AsyncIterator[RunningService]:
    """The operator console in front of this stack (as test_console.py serves it)."""
    services = ("intake", "routing", "approval", "delivery")
    urls = {f"{name}_url": stack.services[name].base_url for name in services}
    settings = stack.settings.model_copy(update={**urls, "jaeger_ui_url": JAEGER})
    running = await serve("console", lambda _: create_console(settings))
    yield running
    await running.stop()


def newborn(applicant: dict[str, Any]) -> dict[str, Any]:
    return newborn_bundle(applicant, factories.resident_id(SHUSHAN))


async def submit(trip: Journey, body: dict[str, Any], key: str | None = None) -> httpx.Response:
    return await submit_bundle(trip, body, key)


async def test_a_combined_notice_lists_the_problems_of_several_members_at_once(
    stack: Stack,
) -> None:
    trip = stack.journey()
    await trip.upload_sample_scans()
    body = newborn(factories.applicant(SHUSHAN))
    del body["shared_fields"]["birth_date"]
    members = {member["item_code"]: member for member in body["members"]}
    members["WJ-CS-001"]["materials"].pop(1)  # 分娩记录
    members["YL-CB-001"]["materials"] = []  # 参保登记表
    body["members"].append({"item_code": "GA-HJ-001"})

    response = await submit(trip, body)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "incomplete_application"
    listed = sorted(
        (p.get("item_code", ""), p.get("material_code") or p["field"], p["code"])
        for p in error["details"]["problems"]
    )
    assert listed == [
        ("", "shared_fields.birth_date", "shared_field_missing"),
        ("GA-HJ-001", "members", "not_a_bundle_member"),
        ("WJ-CS-001", "M02", "material_missing"),
        ("YL-CB-001", "M02", "material_missing"),
    ]
    # The held members were not asked for what their prerequisites' certificates will prove.
    assert not any(p.get("material_code") == "M01" for p in error["details"]["problems"])
    async with trip._client("intake", trip.clerk_token) as intake:
        again = await intake.get(f"/v1/notices/{error['details']['notice_no']}")
    assert again.status_code == 200 and len(again.json()["problems"]) == 4


async def test_one_receipt_and_the_held_registration_is_released_by_the_birth_certificate(
    stack: Stack,
) -> None:
    trip = stack.journey()
    await trip.upload_sample_scans()
    applicant = factories.applicant(SHUSHAN)
    body = newborn(applicant)
    key = str(uuid.uuid4())
    response = await submit(trip, body, key)
    assert response.status_code == 201, response.text
    receipt = response.json()
    children = {child["item_code"]: child for child in receipt["children"]}
    assert receipt["bundle_no"].startswith("YJS341200")
    assert (receipt["name"], receipt["lead_department"]) == ("新生儿出生一件事", "卫生健康委员会")
    assert {code: child["status"] for code, child in children.items()} == {
        "WJ-CS-001": "accepted",
        "GA-HJ-003": "held",
        "YL-CB-001": "held",
        "SB-SBK-002": "held",
    }
    assert children["GA-HJ-003"]["waits_for"] == ["WJ-CS-001"]
    assert children["SB-SBK-002"]["waits_for"] == ["GA-HJ-003"]
    assert {child["competent_locality"] for child in children.values()} == {SHUSHAN, HEFEI}
    # The bundle's promised date is its latest child's; a held child's starts after its own
    # prerequisites'.
    assert receipt["promised_date"] == max(c["promised_date"] for c in children.values())
    assert children["GA-HJ-003"]["promised_date"] > children["WJ-CS-001"]["promised_date"]
    again = await submit(trip, body, key)
    assert (again.status_code, again.json()) == (201, receipt)

    birth = children["WJ-CS-001"]["application_no"]
    registration = children["GA-HJ-003"]["application_no"]
    shown = await trip.wait_for_status(birth, "in_review")
    assert shown["competent_locality"] == SHUSHAN
    assert shown["bundle_no"] == receipt["bundle_no"]
    async with trip._client("intake", trip.clerk_token) as intake:
        held = await intake.get(f"/v1/applications/{registration}")
    assert held.status_code == 404  # held: not an application yet, not routed

    birth_certificate = (await trip.approve(birth, SHUSHAN))["certificate_no"]
    # What the birth certificate's QR code carries: valid, for now.
    birth_url = await verification_url(stack, birth_certificate, issuer=SHUSHAN)
    assert (await verify(stack, birth_url))["valid"] is True

    state = await released(trip, receipt["bundle_no"], "GA-HJ-003")
    # Released alone: the others wait for the household register, not the birth certificate.
    statuses = {child["item_code"]: child["status"] for child in state["children"]}
    assert statuses["YL-CB-001"] == statuses["SB-SBK-002"] == "held"
    routed = await trip.wait_for_status(registration, "in_review")
    assert routed["bundle_no"] == receipt["bundle_no"]
    [cited] = routed["certificates"]
    assert (cited["material_code"], cited["item_code"]) == ("M01", "WJ-CS-001")
    assert cited["issuer_locality"] == SHUSHAN
    case = await trip.wait_for_case(registration, SHUSHAN)
    assert case["application"]["certificates"] == [cited]

    # The registration approved: its household register releases both members waiting for it,
    # 医保参保 to 蜀山区 and 社会保障卡 to 合肥市, in parallel.
    await trip.approve(registration, SHUSHAN)
    insurance = children["YL-CB-001"]["application_no"]
    card = children["SB-SBK-002"]["application_no"]
    await released(trip, receipt["bundle_no"], "YL-CB-001", "SB-SBK-002")
    for number, locality in ((insurance, SHUSHAN), (card, HEFEI)):
        routed = await trip.wait_for_status(number, "in_review")
        assert routed["competent_locality"] == locality
        assert [c["item_code"] for c in routed["certificates"]] == ["GA-HJ-003"]
    state = await bundle_state(trip, receipt["bundle_no"])
    assert state["status"] == "open"
    assert {c["item_code"]: c["outcome"] for c in state["children"]} == {
        "WJ-CS-001": "approved",
        "GA-HJ-003": "approved",
        "YL-CB-001": None,
        "SB-SBK-002": None,
    }

    # A required member rejected ends the bundle.
    await trip.wait_for_case(insurance, SHUSHAN)
    async with trip._client("approval", trip.approver_token(SHUSHAN)) as approval:
        assert (await approval.post(f"/v1/cases/{insurance}/claim")).status_code == 200
        decided = await approval.post(
            f"/v1/cases/{insurance}/decision",
            json={"decision": "reject", "reason": "已参加职工基本医疗保险"},
        )
        assert decided.status_code == 200, decided.text

    async def failed() -> dict[str, Any] | None:
        state = await bundle_state(trip, receipt["bundle_no"])
        return state if state["status"] == "failed" else None

    state = await poll_until(failed, within=60.0, failure="the bundle never failed")
    assert {c["item_code"]: c["outcome"] for c in state["children"]}["YL-CB-001"] == "rejected"

    # Compensation, as legal acts: the sibling still in review at 合肥 is withdrawn (its
    # approver sees the case closed with the reason, the applicant's timeline says so) ...
    withdrawn = await trip.wait_for_case_status(card, HEFEI, "withdrawn")
    assert receipt["bundle_no"] in withdrawn["reason"]
    assert "城乡居民基本医疗保险参保登记（医疗保障局）" in withdrawn["reason"]
    shown = await trip.wait_for_status(card, "withdrawn")
    assert shown["timeline"][-1]["note"].startswith("已撤回，审查终止：一件事申请")

    # ... the certificates already issued for the bundle are revoked through the registry
    # with the reason: public verification of the birth certificate answers `revoked` ...
    async def revoked() -> dict[str, Any] | None:
        answer = await verify(stack, birth_url)
        return answer if answer["reason"] == "revoked" else None

    assert (await poll_until(revoked, within=60.0, failure="never revoked"))["valid"] is False
    registration_case = await trip.wait_for_case(registration, SHUSHAN)
    async with stack.client("approval", trip.approver_token(SHUSHAN)) as approval:
        registered = await approval.get(f"/v1/certificates/{registration_case['certificate_no']}")
    assert registered.status_code == 200, registered.text
    assert registered.json()["revoked_reason"] == withdrawn["reason"]

    # ... and the applicant gets one rejection, each member with its department's reason or
    # what was undone.
    async def undone() -> dict[str, Any] | None:
        state = await bundle_state(trip, receipt["bundle_no"])
        children = {c["item_code"]: c for c in state["children"]}
        done = children["SB-SBK-002"]["outcome"] == "withdrawn" and all(
            children[code]["revoked"] for code in ("WJ-CS-001", "GA-HJ-003")
        )
        return state if done else None

    state = await poll_until(undone, within=60.0, failure="the compensation never finished")
    rejection = state["rejection"]
    assert rejection["reason"] == withdrawn["reason"]
    undone_members = {m["item_code"]: (m["department"], m["outcome"]) for m in rejection["members"]}
    assert undone_members == {
        "WJ-CS-001": ("卫生健康委员会", "revoked"),
        "GA-HJ-003": ("公安局", "revoked"),
        "YL-CB-001": ("医疗保障局", "rejected"),
        "SB-SBK-002": ("人力资源和社会保障局", "withdrawn"),
    }
    reasons = {m["item_code"]: m["reason"] for m in rejection["members"]}
    assert reasons["YL-CB-001"] == "已参加职工基本医疗保险"
    assert {c["item_code"]: c["withdrawn"] for c in state["children"]} == {
        "WJ-CS-001": True,
        "GA-HJ-003": True,
        "YL-CB-001": False,
        "SB-SBK-002": True,
    }

    # 合肥's operators see it among the failed bundles of their city; 芜湖's do not.
    for locality, sees in ((HEFEI, True), ("340200", False)):
        async with stack.client("intake", stack.token("operator", locality)) as intake:
            listed = await intake.get("/v1/bundle-applications", params={"status": "failed"})
        assert listed.status_code == 200, listed.text
        numbers = {b["bundle_no"]: b for b in listed.json()["bundles"]}
        assert (receipt["bundle_no"] in numbers) is sees


async def test_a_release_dying_before_its_commit_is_redone_once_and_a_second_certificate_is_moot(
    stack: Stack, producer: AIOKafkaProducer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The process manager dies between releasing the held child (its conditional update) and
    the commit: nothing of it stays, the certificate's event is handled again, and the child is
    released once, with one ApplicationAccepted. A second certificate for the same prerequisite
    (a new event) finds nothing held."""
    trip = stack.journey()
    await trip.upload_sample_scans()
    applicant = factories.applicant(SHUSHAN)
    response = await submit(trip, newborn(applicant))
    assert response.status_code == 201, response.text
    receipt = response.json()
    children = {child["item_code"]: child["application_no"] for child in receipt["children"]}
    birth, registration = children["WJ-CS-001"], children["GA-HJ-003"]

    accept = bundle_manager.acceptance_of
    calls: list[str] = []

    def dies_once(*args: Any, **kwargs: Any) -> Any:
        calls.append(kwargs["reserved_no"])
        if len(calls) == 1:
            raise RuntimeError("intake killed in the middle of a release")
        return accept(*args, **kwargs)

    monkeypatch.setattr(bundle_manager, "acceptance_of", dies_once)
    await trip.approve(birth, SHUSHAN)
    await released(trip, receipt["bundle_no"], "GA-HJ-003")
    assert calls == [registration, registration]  # died once, redone once

    digest_key = stack.settings.pii_digest_key.get_secret_value().encode()
    again = CertificateContent(
        number=f"ZZ{SHUSHAN}{uuid.uuid4().hex[:12].upper()}",
        application_no=birth,
        item_code="WJ-CS-001",
        item_name="《出生医学证明》首次签发",
        holder_name=applicant["name"],
        holder_id_digest=id_number_digest(applicant["id_number"], digest_key),
        issuer_locality=SHUSHAN,
        issuer_department="卫生健康委员会",
        issued_on=date.today(),
    )
    await stack.publish(producer, certificate_issued(stack, again), topics.APPROVAL_EVENTS)

    # Handled once intake's replica of the registry has it (the same transaction as the
    # process manager's look at the bundle).
    await known_to_intake(stack, again.number)
    assert await accepted_events(stack, registration) == 1
    assert calls == [registration, registration]
    await trip.wait_for_status(registration, "in_review")


async def accepted_events(stack: Stack, application_no: str) -> int:
    """How many ApplicationAccepted intake's outbox holds for this application."""
    engine = create_async_engine(stack.settings.service_database_url("intake"))
    try:
        async with engine.connect() as connection:
            count = await connection.scalar(
                select(func.count())
                .select_from(outbox)
                .where(
                    outbox.c.subject == application_no,
                    outbox.c.event_type == "gov.tongban.application.accepted.v1",
                )
            )
    finally:
        await engine.dispose()
    return int(count or 0)


async def test_a_supplement_in_one_member_moves_only_its_clock_and_the_bundles_promised_date(
    stack: Stack, producer: AIOKafkaProducer
) -> None:
    """补正 in the birth certificate, three working days paused (announced as 蜀山区's approval
    would): its promised date moves, the children held behind it move with it, the bundle's
    promised date is the latest again."""
    trip = stack.journey()
    await trip.upload_sample_scans()
    response = await submit(trip, newborn(factories.applicant(SHUSHAN)))
    assert response.status_code == 201, response.text
    receipt = response.json()
    before = {child["item_code"]: child["promised_date"] for child in receipt["children"]}
    birth = next(c["application_no"] for c in receipt["children"] if c["item_code"] == "WJ-CS-001")
    await trip.wait_for_status(birth, "in_review")

    now = datetime.now(UTC)
    asked = events.CaseSupplementRequested(
        application_no=birth,
        locality=SHUSHAN,
        materials=["M02"],
        reason="分娩记录不清晰",
        requested_at=now,
    )
    await stack.publish(producer, asked, topics.APPROVAL_EVENTS)
    await trip.wait_for_status(birth, "supplement_requested")
    # One combined request for the bundle, naming the asking department and what it wants;
    # only the asking child's clock is paused (the held ones have not started theirs).
    paused = await bundle_timeline(trip, receipt["bundle_no"])
    [request] = paused["supplement_request"]
    assert (request["item_code"], request["department"]) == ("WJ-CS-001", "卫生健康委员会")
    assert request["materials"] == ["新生儿出生医学记录（分娩记录）"]
    clocks = {m["item_code"]: m["clock"] for m in paused["members"]}
    assert clocks == {
        "WJ-CS-001": "paused",
        "GA-HJ-003": "not_started",
        "YL-CB-001": "not_started",
        "SB-SBK-002": "not_started",
    }
    resumed = events.CaseResumed(
        application_no=birth,
        locality=SHUSHAN,
        deadline=date.today() + timedelta(days=30),
        paused_working_days=3,
        resumed_at=now,
    )
    await stack.publish(producer, resumed, topics.APPROVAL_EVENTS)

    async def moved() -> dict[str, Any] | None:
        state = await bundle_state(trip, receipt["bundle_no"])
        return state if state["promised_date"] != receipt["promised_date"] else None

    state = await poll_until(moved, within=30.0, failure="the promised date never moved")
    resumed_timeline = await bundle_timeline(trip, receipt["bundle_no"])
    assert resumed_timeline["supplement_request"] == []
    assert resumed_timeline["promised_date"] == state["promised_date"]
    after = {child["item_code"]: child["promised_date"] for child in state["children"]}
    for code in before:
        shift = add_working_days(date.fromisoformat(before[code]), 3)
        assert after[code] == shift.isoformat(), code
    assert state["promised_date"] == max(after.values())


async def test_operators_see_a_failed_bundle_with_its_stuck_members_in_the_console(
    stack: Stack, console: RunningService, browser: Browser
) -> None:
    """The birth certificate (required) rejected: the bundle fails and the three members held
    behind it can never be released; the console's 一件事 page says so."""
    trip = stack.journey()
    await trip.upload_sample_scans()
    response = await submit(trip, newborn(factories.applicant(SHUSHAN)))
    assert response.status_code == 201, response.text
    receipt = response.json()
    birth = next(c for c in receipt["children"] if c["item_code"] == "WJ-CS-001")
    await trip.wait_for_case(birth["application_no"], SHUSHAN)
    async with stack.client("approval", trip.approver_token(SHUSHAN)) as approval:
        number = birth["application_no"]
        assert (await approval.post(f"/v1/cases/{number}/claim")).status_code == 200
        decided = await approval.post(
            f"/v1/cases/{number}/decision",
            json={"decision": "reject", "reason": "分娩记录与出生信息不一致"},
        )
        assert decided.status_code == 200, decided.text

    async def failed() -> dict[str, Any] | None:
        state = await bundle_state(trip, receipt["bundle_no"])
        return state if state["status"] == "failed" else None

    state = await poll_until(failed, within=60.0, failure="the bundle never failed")
    assert state["stuck"] == ["GA-HJ-003", "SB-SBK-002", "YL-CB-001"]

    page = await browser.new_page(locale=CHINESE, viewport={"width": 1280, "height": 900})
    await sign_in(page, console, stack.token("operator", stack.settings.province))
    await page.goto(f"{console.base_url}/bundles?status=failed")
    await expect(page.get_by_role("heading", name="一件事", exact=True)).to_be_visible()
    section = page.locator(f"section[data-bundle='{receipt['bundle_no']}']")
    await expect(section).to_contain_text("新生儿出生一件事")
    await expect(section.locator("p.stuck")).to_contain_text("出生登记（新生儿入户）")
    await expect(section.locator("tr[data-item='WJ-CS-001']")).to_contain_text("不予许可")
    await expect(section.locator("tr[data-item='GA-HJ-003']")).to_contain_text("待前置证照")
    await expect(section.locator("tr.overdue")).to_have_count(3)
    # The applicant's one rejection, each member with its department's reason or its fate.
    rejection = section.locator("div.rejection")
    await expect(rejection).to_contain_text(receipt["bundle_no"])
    await expect(rejection.locator("li[data-item='WJ-CS-001']")).to_contain_text(
        "分娩记录与出生信息不一致"
    )
    await expect(rejection.locator("li[data-item='GA-HJ-003']")).to_contain_text("未启动")
    await shot(page, "bundles")
    await page.close()
