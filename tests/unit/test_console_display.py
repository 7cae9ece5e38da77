"""What the console and the demo show people: event types as what happened, items by name,
times in China time with the zone said, in the reader's language."""

from __future__ import annotations

from datetime import UTC, datetime

from rich.console import Console

from services.console import display
from shared.i18n import CHINESE, ENGLISH, use_locale
from shared.messaging.events import EVENT_TYPES
from tooling.demo import timeline_table


def test_every_event_type_is_told_as_what_happened() -> None:
    assert set(display.EVENT_DESCRIPTIONS) == set(EVENT_TYPES)
    with use_locale(CHINESE):
        assert display.event_description("gov.tongban.application.accepted.v1") == "窗口受理"
        assert display.event_description("gov.tongban.case.opened.v1") == "开始审查"
        assert display.event_description("gov.tongban.certificate.delivered.v1") == "已送达"
    with use_locale(ENGLISH):
        assert display.event_description("gov.tongban.case.opened.v1") == "Review started"


def test_an_unknown_event_type_or_status_is_shown_as_its_code() -> None:
    with use_locale(CHINESE):
        assert display.event_description("gov.tongban.future.thing.v9") == (
            "gov.tongban.future.thing.v9"
        )
        assert display.status_name("something_new") == "something_new"


def test_an_item_is_shown_by_its_name_with_its_code() -> None:
    with use_locale(CHINESE):
        assert display.item_name("GA-HJ-001") == "户口迁移证明开具（GA-HJ-001）"
        assert display.item_name("XX-UNKNOWN") == "XX-UNKNOWN"


def test_a_utc_moment_is_shown_in_china_time_with_the_zone_said() -> None:
    with use_locale(CHINESE):
        assert display.china_time("2026-12-02T10:20:00Z") == "2026-12-02 18:20:00（北京时间）"
        assert display.china_time("2026-12-02T18:20:00+08:00") == "2026-12-02 18:20:00（北京时间）"
    with use_locale(ENGLISH):
        moment = datetime(2026, 12, 2, 16, 30, tzinfo=UTC)  # already the next day in Beijing
        assert display.china_time(moment) == "2026-12-03 00:30:00 (Beijing time)"
    assert display.iso_time("2026-12-02T10:20:00Z") == "2026-12-02T18:20:00+08:00"
    assert display.china_time(None) == ""


def test_the_demos_timeline_is_in_china_time_and_says_so() -> None:
    application = {
        "application_no": "TB341200202612020001",
        "timeline": [
            {
                "at": "2026-12-02T10:20:00+00:00",
                "status": "accepted",
                "locality": "341200",
                "note": "Accepted at window W341200-01",
            }
        ],
    }
    console = Console(width=200, record=True)
    console.print(timeline_table(application))
    shown = console.export_text()
    assert "Beijing time" in shown
    assert "2026-12-02 18:20:00" in shown and "10:20" not in shown


def test_every_application_status_has_a_name_for_people() -> None:
    from services.console.display import APPLICATION_STATUS
    from shared.vocabulary import ApplicationStatus

    assert {status.value for status in ApplicationStatus} <= set(APPLICATION_STATUS)
