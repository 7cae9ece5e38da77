"""A bundle's state from its children's decisions (aggregation all_required)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

from services.intake.bundle_db import BundleChildRow, BundleRow
from services.intake.domain.bundles import (
    APPROVED,
    COMPLETED,
    FAILED,
    OPEN,
    REJECTED,
    Child,
    bundle_status,
    estimated_dates,
    never_released,
)
from services.intake.usecases.bundle_queries import stuck_members


def newborn(**outcomes: str) -> list[Child]:
    """新生儿出生: the birth certificate, the registration waiting for it, medical insurance
    waiting for the registration, and the optional vaccination certificate waiting for the
    birth certificate. Keyword: item code with '_' for '-', its outcome; held until decided."""
    decided = {code.replace("_", "-"): outcome for code, outcome in outcomes.items()}

    def child(code: str, required: bool, waits_for: dict[str, str]) -> Child:
        outcome = decided.get(code)
        held = (
            bool(waits_for)
            and outcome is None
            and not all(decided.get(needs) == APPROVED for needs in waits_for)
        )
        return Child(code, required, held, outcome, waits_for)

    return [
        child("WJ-CS-001", True, {}),
        child("GA-HJ-003", True, {"WJ-CS-001": "M01"}),
        child("YL-CB-001", True, {"GA-HJ-003": "M01"}),
        child("WJ-YM-001", False, {"WJ-CS-001": "M02"}),
    ]


def test_open_while_a_required_child_is_undecided() -> None:
    assert bundle_status(newborn()) == OPEN
    assert bundle_status(newborn(WJ_CS_001=APPROVED, GA_HJ_003=APPROVED)) == OPEN


def test_completed_when_every_child_is_approved() -> None:
    approved = {"WJ_CS_001": APPROVED, "GA_HJ_003": APPROVED, "YL_CB_001": APPROVED}
    assert bundle_status(newborn(**approved)) == OPEN  # the optional one is still in review
    assert bundle_status(newborn(**approved, WJ_YM_001=APPROVED)) == COMPLETED


def test_an_optional_child_rejected_leaves_the_rest() -> None:
    children = newborn(WJ_CS_001=APPROVED, WJ_YM_001=REJECTED)
    assert bundle_status(children) == OPEN
    done = newborn(WJ_CS_001=APPROVED, WJ_YM_001=REJECTED, GA_HJ_003=APPROVED, YL_CB_001=APPROVED)
    assert bundle_status(done) == COMPLETED


def test_a_required_child_rejected_fails_the_bundle_whatever_else_was_approved() -> None:
    assert bundle_status(newborn(WJ_CS_001=APPROVED, GA_HJ_003=REJECTED)) == FAILED
    assert bundle_status(newborn(WJ_CS_001=REJECTED)) == FAILED


def test_a_held_child_behind_a_rejection_can_never_be_released() -> None:
    children = [
        Child("A", False, False, REJECTED),
        Child("B", False, True, None, {"A": "M01"}),
        Child("C", False, True, None, {"B": "M01"}),
        Child("D", True, False, APPROVED),
    ]
    assert never_released(children) == {"B", "C"}
    # Nothing is left to decide: B and C wait for what will never come.
    assert bundle_status(children) == COMPLETED
    assert never_released(newborn()) == set()


def test_a_held_childs_promised_date_counts_from_its_latest_prerequisite() -> None:
    monday = date(2026, 12, 7)

    def later_by(days: int) -> Callable[[date], date]:
        return lambda start: start + timedelta(days=days)

    held = {
        "GA-HJ-003": ({"WJ-CS-001": "M01"}, later_by(1)),
        "YL-CB-001": ({"GA-HJ-003": "M01"}, later_by(1)),
        "SB-SBK-002": ({"GA-HJ-003": "M01"}, later_by(5)),
    }
    dates = estimated_dates({"WJ-CS-001": monday}, held)
    assert dates == {
        "WJ-CS-001": monday,
        "GA-HJ-003": monday + timedelta(days=1),
        "YL-CB-001": monday + timedelta(days=2),
        "SB-SBK-002": monday + timedelta(days=6),
    }
    # The birth certificate's clock paused three days: everything behind it moves with it.
    moved = estimated_dates({"WJ-CS-001": monday + timedelta(days=3)}, held)
    assert moved["SB-SBK-002"] == monday + timedelta(days=9)
    # A child already accepted keeps its own date; only the held ones are estimated.
    released = estimated_dates({"WJ-CS-001": monday, "GA-HJ-003": monday}, held)
    assert released["YL-CB-001"] == monday + timedelta(days=1)


def test_the_stuck_members_are_those_never_to_be_released_or_late() -> None:
    today = date.today()
    bundle = BundleRow(bundle_no="YJS1", status=OPEN)

    def child(code: str, status: str, outcome: str | None, promised: date, **waits: str) -> Any:
        return BundleChildRow(
            item_code=code,
            required=True,
            status=status,
            outcome=outcome,
            waits_for={k.replace("_", "-"): v for k, v in waits.items()},
            promised_date=promised,
        )

    children = [
        child("WJ-CS-001", "accepted", REJECTED, today),
        child("GA-HJ-003", "held", None, today, WJ_CS_001="M01"),
        child("YL-CB-001", "held", None, today, GA_HJ_003="M01"),
        child("SB-SBK-002", "accepted", None, today - timedelta(days=1)),  # late
        child("WJ-YM-001", "accepted", None, today),  # on time
    ]
    assert stuck_members(bundle, children) == ["GA-HJ-003", "SB-SBK-002", "YL-CB-001"]
    failed = BundleRow(bundle_no="YJS2", status=FAILED)
    assert stuck_members(failed, [child("GA-HJ-003", "held", None, today, X="M01")]) == [
        "GA-HJ-003"
    ]
