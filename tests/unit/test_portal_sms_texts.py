"""The texts of the portal's notifications (services/portal/notifications/texts.py): one per
fact, in Chinese by default, each naming the application's number and nothing personal."""

from __future__ import annotations

import string

import pytest

from services.portal.notifications.sender import notification_of, reference_of
from services.portal.notifications.texts import (
    MAX_REASON_CHARS,
    TEMPLATES,
    Fact,
    listing,
    render,
    shortened,
)
from shared.i18n import ENGLISH
from shared.sms import MAX_TEXT_LENGTH

NUMBER = "TB-340104-20261203-000042"
PARAMS = {
    Fact.ACCEPTED: {"item": "居民身份证换领"},
    Fact.SUPPLEMENT_REQUESTED: {"materials": "户口簿、照片", "reason": "照片不清晰"},
    Fact.DEFERRED_DUE: {"materials": "户口簿", "due_on": "2026-12-10"},
    Fact.APPROVED: {"item": "居民身份证换领", "certificate_no": "ZZ-340104-2026-000007"},
    Fact.REJECTED: {"notice_no": "BY-340104-2026-000003"},
    Fact.READY_FOR_PICKUP: {"window": "合肥市庐阳区政务服务中心综合窗口1"},
    Fact.DISPATCHED: {"carrier": "EMS", "tracking_no": "EMS1234567890"},
    Fact.DELIVERED: {},
    Fact.BUNDLE_READY: {"window": "合肥市庐阳区政务服务中心综合窗口1"},
    Fact.BUNDLE_DISPATCHED: {"carrier": "EMS", "tracking_no": "EMS1234567890"},
    Fact.BUNDLE_DELIVERED: {},
}
# What each text must say besides the number: the fact's own detail.
DETAIL = {
    Fact.ACCEPTED: "已受理",
    Fact.SUPPLEMENT_REQUESTED: "户口簿、照片",
    Fact.DEFERRED_DUE: "2026-12-10",
    Fact.APPROVED: "ZZ-340104-2026-000007",
    Fact.REJECTED: "BY-340104-2026-000003",
    Fact.READY_FOR_PICKUP: "综合窗口1",
    Fact.DISPATCHED: "EMS1234567890",
    Fact.DELIVERED: "已送达",
    Fact.BUNDLE_READY: "一次领取",
    Fact.BUNDLE_DISPATCHED: "EMS1234567890",
    Fact.BUNDLE_DELIVERED: "已全部送达",
}


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_every_fact_has_a_template_naming_the_application() -> None:
    assert set(TEMPLATES) == set(Fact)
    for fact, template in TEMPLATES.items():
        assert "application_no" in placeholders(template), fact
        assert placeholders(template) == {"application_no", *PARAMS[fact]}, fact


@pytest.mark.parametrize("fact", list(Fact))
def test_each_text_is_chinese_by_default_with_the_number_and_its_detail(fact: Fact) -> None:
    text = render(fact, {"application_no": NUMBER, **PARAMS[fact]})
    assert text.startswith("【通办】") and NUMBER in text and DETAIL[fact] in text
    assert "{" not in text and "Tongban" not in text
    assert len(text) <= MAX_TEXT_LENGTH


def test_english_on_request() -> None:
    text = render(Fact.DELIVERED, {"application_no": NUMBER}, ENGLISH)
    assert text == f"[Tongban] The result of application {NUMBER} has been delivered."


def test_a_missing_detail_is_a_bug_not_a_text_with_a_hole() -> None:
    with pytest.raises(KeyError):
        render(Fact.DISPATCHED, {"application_no": NUMBER, "carrier": "EMS"})


def test_materials_are_listed_the_chinese_way_and_a_long_reason_is_cut() -> None:
    assert listing(["户口簿", "照片"]) == "户口簿、照片"
    assert listing(["ID card", "photo"], ENGLISH) == "ID card, photo"
    assert shortened("  照片\n不清晰 ") == "照片 不清晰"
    long = "理由" * 100
    assert len(shortened(long)) == MAX_REASON_CHARS and shortened(long).endswith("…")


def test_a_notification_reference_is_told_from_a_sign_in_one() -> None:
    assert notification_of(reference_of(42)) == 42
    assert notification_of("0b8f3c1e-6a55-4f7e-9d61-2f1f1f0c9a10") is None
    assert notification_of("notification-") is None
    assert notification_of("notification-4x") is None
