"""What a failed bundle's one rejection says of each member, and why its siblings are
withdrawn (bundle_compensation's pure parts)."""

from __future__ import annotations

from datetime import date

from services.intake.bundle_db import BundleChildRow, BundleRow, ChildStatus
from services.intake.domain.bundles import APPROVED, REJECTED
from services.intake.usecases.bundle_compensation import member_note, withdrawal_reason

NAMES = {"WJ-CS-001": "《出生医学证明》首次签发", "YL-CB-001": "城乡居民基本医疗保险参保登记"}


def child(code: str, status: str, outcome: str | None, reason: str | None = None) -> BundleChildRow:
    return BundleChildRow(
        application_no=f"TB-{code}",
        bundle_no="YJS341200202612030001",
        item_code=code,
        required=True,
        status=status,
        outcome=outcome,
        reason=reason,
        waits_for={},
        issued=[],
        materials=[],
        commitments=[],
        deferred=[],
        competent_locality="340104",
        department="医疗保障局",
        promised_date=date(2026, 12, 10),
        revoked=[],
    )


def test_the_reason_names_the_rejected_required_members_and_their_departments() -> None:
    bundle = BundleRow(bundle_no="YJS341200202612030001")
    reason = withdrawal_reason(bundle, [("城乡居民基本医疗保险参保登记", "医疗保障局")])
    assert reason == (
        "一件事申请 YJS341200202612030001 终止：必办事项城乡居民基本医疗保险参保登记（医疗保障局）"
        "不予许可。"
    )


def test_each_member_says_its_departments_reason_or_what_was_undone() -> None:
    ended = "一件事终止"
    notes = {
        code: (m["outcome"], m["reason"])
        for code, m in (
            (c.item_code, member_note(c, NAMES, ended))
            for c in (
                child("YL-CB-001", ChildStatus.RELEASED, REJECTED, "已参加职工基本医疗保险"),
                child("WJ-CS-001", ChildStatus.ACCEPTED, APPROVED),
                child("SB-SBK-002", ChildStatus.RELEASED, None),
                child("WJ-YM-001", ChildStatus.HELD, None),
            )
        )
    }
    assert notes == {
        "YL-CB-001": ("rejected", "已参加职工基本医疗保险"),
        "WJ-CS-001": ("revoked", ended),
        "SB-SBK-002": ("withdrawn", ended),
        "WJ-YM-001": ("not_started", ended),
    }
