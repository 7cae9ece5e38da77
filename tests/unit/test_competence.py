"""The competent locality as routing made it (shared.competence): which approval events count,
which wait for routing's fact, which are refused for good."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from shared.competence import (
    NotCompetent,
    NotYetRouted,
    check_competent,
    may_be_competent,
    speaking_locality,
)
from shared.jurisdiction import JurisdictionRule
from shared.messaging import events
from shared.messaging.consumer import NotYet, PermanentError
from shared.vocabulary import CompetentLevel, Jurisdiction

NUMBER = "TB341200202612020001"
HEFEI, WUHU, MAANSHAN = "340100", "340200", "340500"


def opened(locality: str) -> events.CaseOpened:
    return events.CaseOpened(
        application_no=NUMBER, locality=locality, deadline=date(2026, 12, 30), opened_at=AT
    )


AT = datetime(2026, 12, 2, 9, tzinfo=UTC)


def transfer(from_locality: str, to_locality: str) -> events.CaseTransferred:
    return events.CaseTransferred(
        application_no=NUMBER,
        from_locality=from_locality,
        to_locality=to_locality,
        reason="属地有误",
        transferred_by="approver",
        transferred_at=AT,
    )


def test_an_approval_event_counts_only_from_the_locality_routing_made_competent() -> None:
    check_competent(opened(HEFEI), NUMBER, HEFEI)
    with pytest.raises(NotCompetent, match="from 340200, but routing made 340100 competent"):
        check_competent(opened(WUHU), NUMBER, HEFEI)
    # Refused for good (dead-lettered at once), not retried.
    assert issubclass(NotCompetent, PermanentError)


def test_an_approval_event_before_routings_fact_waits_for_it() -> None:
    with pytest.raises(NotYetRouted):
        check_competent(opened(HEFEI), NUMBER, None)
    assert issubclass(NotYetRouted, NotYet) and not issubclass(NotYetRouted, PermanentError)


def test_during_a_transfer_the_new_locality_waits_and_the_old_one_says_nothing_more() -> None:
    with pytest.raises(NotYetRouted, match=r"transfer of .* to 340500"):
        check_competent(opened(MAANSHAN), NUMBER, HEFEI, transferring_to=MAANSHAN)
    with pytest.raises(NotCompetent, match=r"340100 handed .* on to 340500"):
        check_competent(opened(HEFEI), NUMBER, HEFEI, transferring_to=MAANSHAN)
    with pytest.raises(NotCompetent):
        check_competent(opened(WUHU), NUMBER, HEFEI, transferring_to=MAANSHAN)


def test_a_transfer_speaks_for_the_locality_that_gives_the_case_up() -> None:
    assert speaking_locality(transfer(HEFEI, MAANSHAN)) == HEFEI
    check_competent(transfer(HEFEI, MAANSHAN), NUMBER, HEFEI)
    with pytest.raises(NotCompetent):
        check_competent(transfer(WUHU, MAANSHAN), NUMBER, HEFEI)


def test_events_of_other_producers_are_not_checked() -> None:
    routed = events.Routed(
        application_no=NUMBER,
        competent_locality=WUHU,
        department="公安局",
        receiving_locality="341200",
        routed_at=AT,
    )
    assert speaking_locality(routed) is None
    check_competent(routed, NUMBER, HEFEI)


@pytest.mark.parametrize(
    ("jurisdiction", "level", "locality", "may"),
    [
        (Jurisdiction.HOUSEHOLD, CompetentLevel.CITY, HEFEI, True),
        (Jurisdiction.HOUSEHOLD, CompetentLevel.CITY, "340104", False),  # a district of 合肥
        (Jurisdiction.HOUSEHOLD, CompetentLevel.COUNTY, "340104", True),
        (Jurisdiction.HOUSEHOLD, CompetentLevel.COUNTY, HEFEI, False),
        (Jurisdiction.PROVINCE, CompetentLevel.CITY, "340000", True),
        (Jurisdiction.PROVINCE, CompetentLevel.CITY, HEFEI, False),
        (Jurisdiction.PROPERTY, CompetentLevel.CITY, "999999", False),
    ],
)
def test_who_may_be_competent_for_an_item(
    jurisdiction: Jurisdiction, level: CompetentLevel, locality: str, may: bool
) -> None:
    rule = JurisdictionRule("GA-HJ-002", jurisdiction, level, "公安局")
    assert may_be_competent(rule, locality) is may
