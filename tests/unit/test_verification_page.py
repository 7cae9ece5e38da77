"""The public verification's page for people (delivery's verification_page.py), without the
stack: which requests get it (a browser's) and which keep the JSON (a program's), and that
whatever the issuer wrote is shown as text, never as markup."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from services.delivery.usecases.verification import Verification
from services.delivery.verification_page import answer_page, templates, wants_page
from shared.i18n import ENGLISH, use_locale

CHROMIUM = (
    "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,"
    "image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7"
)
FIREFOX = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


@pytest.mark.parametrize("accept", [CHROMIUM, FIREFOX, "text/html", "text/*;q=0.9, */*;q=0.1"])
def test_a_browser_gets_the_page(accept: str) -> None:
    assert wants_page(accept)


@pytest.mark.parametrize(
    "accept",
    [
        None,
        "",
        "*/*",  # curl, httpx, requests
        "application/json",
        "application/json, text/html",  # equal: the program's answer
        "text/html;q=0.5, application/json",
        "text/html;q=0, */*",
        "application/*, text/html;q=0.9",
    ],
)
def test_a_program_keeps_the_json(accept: str | None) -> None:
    assert not wants_page(accept)


REVOKED = Verification(
    valid=False,
    number="CERT2026000001",
    reason="revoked",
    kind="certificate",
    issuer_locality="340100",
    item_code="GA-HJ-001",
    holder_name_masked="欧***",
    issued_at=date(2026, 11, 23),
    valid_until=None,
    revoked_at=datetime(2026, 12, 1, 17, 30, tzinfo=UTC),  # 2 December in China
    verifications=4,
    issuer_name="合肥市公安局",
    item_name="户口迁移证明开具",
    revoked_reason='<script>alert("x")</script>以欺骗手段取得',
)


def html(verification: Verification) -> str:
    template = templates.get_template("verification.html")
    page = answer_page(verification)
    return template.render(lang="zh-CN", title="电子证照核验", footer="", page=page)


def test_the_revoked_page_says_why_and_when_in_chinese_and_escapes_what_the_issuer_wrote() -> None:
    page = html(REVOKED)
    for expected in ("已吊销", "合肥市公安局", "户口迁移证明开具", "欧***", "2026年12月2日"):
        assert expected in page, expected
    assert "<script>" not in page
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;以欺骗手段取得" in page
    assert "长期有效" in page  # no valid_until


def test_an_altered_record_shows_no_details_and_english_on_request() -> None:
    altered = Verification(False, "CERT2026000001", "signature_invalid", verifications=2)
    page = html(altered)
    assert "无效" in page and "篡改" in page and "<dl>" not in page
    with use_locale(ENGLISH):
        assert "Revoked" in html(REVOKED) and "December 2, 2026" in html(REVOKED)
