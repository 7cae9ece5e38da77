"""跨省通办: when a partner's report says its step happened (shared.federation.statuses), which the
window's timeline lists it by."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from shared.federation.statuses import RESULT_STATUS, RESULT_TIME, reported_time


@pytest.mark.parametrize(
    ("message_type", "field"),
    [
        ("case.opened", "opened_at"),
        ("application.approved", "decided_at"),
        ("application.rejected", "decided_at"),
        ("certificate.delivered", "delivered_at"),
    ],
)
def test_each_report_is_timed_by_its_own_field(message_type: str, field: str) -> None:
    body = {"application_no": "TB34120020261203000008", field: "2026-12-03T10:18:35.120+00:00"}
    assert reported_time(message_type, body) == datetime(2026, 12, 3, 10, 18, 35, 120000, UTC)


def test_every_type_that_moves_a_status_has_its_time() -> None:
    assert set(RESULT_TIME) == set(RESULT_STATUS)


@pytest.mark.parametrize(
    ("message_type", "body"),
    [
        ("application.approved", {}),  # says no time
        ("application.approved", {"decided_at": None}),
        ("application.approved", {"decided_at": "yesterday"}),
        ("application.approved", {"decided_at": "2026-12-03T10:18:35"}),  # no time zone
        ("certificate.issued", {"decided_at": "2026-12-03T10:18:35+00:00"}),  # moves no status
    ],
)
def test_a_report_that_says_no_readable_time_has_none(
    message_type: str, body: dict[str, object]
) -> None:
    assert reported_time(message_type, body) is None
