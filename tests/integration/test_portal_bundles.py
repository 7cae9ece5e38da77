"""一件事一次办 online at the applicants' portal, against the real stack: the bundles listed with
the guides, the combined form at L3 (the shared fields once, each scan once), intake's combined
one-time notice on a first incomplete submission, then one receipt with the children's numbers,
the bundle under 我的办件 for its applicant only, and its held member released as at a window."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.harness import RunningService, Stack
from tests.integration.test_portal_web import LI, ZHANG, csrf_of, portal, signed_in
from tooling.bundle_journey import bundle_state, released
from tooling.journey import (
    AUTHORIZATION_SCAN,
    HOUSEHOLD_REGISTER_SCAN,
    ID_CARD_SCAN,
    poll_until,
    scan_digest,
)
from tooling.sms_gateway.control import SmsGatewayControl

pytestmark = pytest.mark.integration

__all__ = ["portal"]  # the portal fixture, served here too

SHUSHAN = "340104"
WINDOW = "W341200-01"  # the window bundles are handed in at in test_bundles.py
PDF = "application/pdf"


def slots_of(page: str) -> dict[str, str]:
    """{the material's name: its scan's field} on the combined form."""
    return {
        name: slot for slot, name in re.findall(r'<label for="file_(s\d+)">([^<]+)</label>', page)
    }


async def test_an_online_newborn_bundle_notice_then_one_receipt_its_own_and_released(
    stack: Stack, portal: RunningService, sms_gateway: SmsGatewayControl
) -> None:
    async with httpx.AsyncClient(
        base_url=portal.base_url, headers={"Accept-Language": "zh-CN"}
    ) as anyone:
        guides = await anyone.get("/guides")
        assert "新生儿出生一件事" in guides.text and "一件事一次办" in guides.text
        described = await anyone.get("/bundles/YJS-XSECS")
        assert described.status_code == 200
        # The lead department, each member with its department, required or optional, and
        # who waits for whose certificate.
        for text in (
            "牵头部门：卫生健康委员会",
            "出生登记（新生儿入户）",
            "公安局",
            "医疗保障局",
            "必办",
            "可选",
            "《出生医学证明》首次签发的证照（作为出生医学证明，免于提交）",
        ):
            assert text in described.text, text
        assert (await anyone.get("/bundles/YJS-XSECS/apply")).status_code == 303  # sign in

    zhang = await signed_in(portal, sms_gateway, ZHANG)
    form = await zhang.get("/bundles/YJS-XSECS/apply")
    assert form.status_code == 200
    slots = slots_of(form.text)
    # Both parents' ID cards serve 出生医学证明 and 入户: one scan on the form, not two.
    assert form.text.count(">父母双方居民身份证</label>") == 1
    # What a sibling's certificate proves is not asked for (出生医学证明 for 入户).
    assert "出生医学证明" not in slots
    shared = {
        "field_newborn_name": "张小满",
        "field_newborn_sex": "女",
        "field_birth_place": "合肥市第一人民医院",
        "field_mother_id_number": "340104199202020021",
        "field_father_id_number": ZHANG[0],
        "field_settle_with": "随父落户",
    }
    common = {
        "csrf": csrf_of(form.text),
        "delivery_method": "window_pickup",
        "window_id": WINDOW,
        f"commit_{slots['父母结婚证']}": "yes",
    } | shared
    id_card = (f"file_{slots['父母双方居民身份证']}", ("id-card.pdf", ID_CARD_SCAN, PDF))
    register = (
        f"file_{slots['父亲或母亲居民户口簿']}",
        ("register.pdf", HOUSEHOLD_REGISTER_SCAN, PDF),
    )

    # The birth date left out, no 分娩记录, no 登记表s: one notice with every member's problems.
    notice = await zhang.post(
        "/bundles/YJS-XSECS/apply", data=common | {"key": "b-first"}, files=[id_card, register]
    )
    assert notice.status_code == 422, notice.text
    assert "一次性告知" in notice.text and "出生日期" in notice.text
    assert "WJ-CS-001 M02" in notice.text and "WJ-CS-001 M03" in notice.text
    assert "YL-CB-001 M02" in notice.text
    assert 'value="张小满"' in notice.text  # what was filled in stays

    form_scans = [
        (
            f"file_{slots['新生儿出生医学记录（分娩记录）']}",
            ("record.pdf", AUTHORIZATION_SCAN, PDF),
        ),
        (f"file_{slots['《出生医学证明》首次签发登记表']}", ("form.pdf", AUTHORIZATION_SCAN, PDF)),
        (
            f"file_{slots['城乡居民基本医疗保险参保登记表']}",
            ("insure.pdf", AUTHORIZATION_SCAN, PDF),
        ),
    ]
    # Complete (the photo for the social security card deferred, 容缺): one receipt.
    accepted = await zhang.post(
        "/bundles/YJS-XSECS/apply",
        data=common | {"key": "b-second", "field_birth_date": "2026-11-20"},
        files=[id_card, register, *form_scans],
    )
    assert accepted.status_code == 303, accepted.text
    location = accepted.headers["location"]
    bundle_no = location.rsplit("/", 1)[1]
    assert bundle_no.startswith("YJS341200")
    trip = stack.journey()
    state = await bundle_state(trip, bundle_no)
    children = {child["item_code"]: child for child in state["children"]}
    assert {code: child["status"] for code, child in children.items()} == {
        "WJ-CS-001": "accepted",
        "GA-HJ-003": "held",
        "YL-CB-001": "held",
        "SB-SBK-002": "held",
    }
    # The same form again (a double tap, a retry): the same bundle, not a second one.
    again = await zhang.post(
        "/bundles/YJS-XSECS/apply",
        data=common | {"key": "b-second", "field_birth_date": "2026-11-20"},
        files=[id_card, register, *form_scans],
    )
    assert (again.status_code, again.headers["location"]) == (303, location)
    receipt = await zhang.get(location)
    assert receipt.status_code == 200 and "新生儿出生一件事" in receipt.text
    for child in children.values():
        assert child["application_no"] in receipt.text
    assert "等待前置事项出证" in receipt.text

    # One acceptance SMS, for the bundle by its number (none for a child alone).
    async def texted() -> list[dict[str, object]] | None:
        sent = await sms_gateway.messages(to=ZHANG[2])
        return [m for m in sent if bundle_no in str(m["text"])] or None

    [accepted_sms] = await poll_until(texted, within=30, failure="no acceptance SMS")
    assert "新生儿出生一件事" in str(accepted_sms["text"])
    sent = await sms_gateway.messages(to=ZHANG[2])
    assert not any(
        child["application_no"] in str(m["text"]) for child in children.values() for m in sent
    )

    # Under 我的办件: the bundle, and its accepted child; another applicant: 404, not listed.
    mine = await zhang.get("/applications")
    assert bundle_no in mine.text and children["WJ-CS-001"]["application_no"] in mine.text
    birth_page = await zhang.get(f"/applications/{children['WJ-CS-001']['application_no']}")
    assert f"网上申报，已由 {WINDOW} 窗口受理" in birth_page.text
    li = await signed_in(portal, sms_gateway, LI)
    assert (await li.get(location)).status_code == 404
    token = {"Authorization": f"Bearer {li.cookies.get('tongban_portal_session')}"}
    assert (await li.get(f"/v1/me/bundles/{bundle_no}", headers=token)).status_code == 404
    assert (await li.get("/v1/me/bundles", headers=token)).json() == {"bundles": []}
    assert bundle_no not in (await li.get("/applications")).text
    birth = children["WJ-CS-001"]["application_no"]
    assert (await li.get(f"/applications/{birth}")).status_code == 404
    await li.aclose()

    # The birth certificate issued: 入户 is released with it cited, nothing uploaded, as at a
    # window; it was handed in with the one ID card scan 出生医学证明 was.
    shown = await trip.wait_for_status(birth, "in_review")
    assert shown["competent_locality"] == SHUSHAN
    await trip.approve(birth, SHUSHAN)
    await released(trip, bundle_no, "GA-HJ-003")
    registration = children["GA-HJ-003"]["application_no"]
    routed = await trip.wait_for_status(registration, "in_review")
    assert [c["item_code"] for c in routed["certificates"]] == ["WJ-CS-001"]
    case = await trip.wait_for_case(registration, SHUSHAN)
    handed = {m["material_code"]: m.get("sha256") for m in case["application"]["materials"]}
    assert handed["M03"] == scan_digest(ID_CARD_SCAN)

    async def shows_released() -> str | None:
        page = await zhang.get(location)
        return page.text if "已受理（自动引用前置证照，免于提交）" in page.text else None

    await poll_until(shows_released, within=30, failure="the portal never showed the release")
    own = await zhang.get(f"/applications/{registration}")
    assert own.status_code == 200 and registration in own.text
    await zhang.aclose()
