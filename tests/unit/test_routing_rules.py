"""Routing's rules: the competent locality (属地) and the trust agreements between localities."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from services.routing.domain import NotPlaced, Placed, place
from shared.clock import CHINA_TZ
from shared.jurisdiction import (
    RIGHTS,
    Agreement,
    JurisdictionError,
    JurisdictionRule,
    RuleBook,
    agreement_grants,
    competent_locality,
    rights_of,
)
from shared.reference.catalog import get_item
from shared.reference.localities import PROVINCE
from shared.vocabulary import Right, UnroutableReason

TODAY = date(2025, 6, 13)
# Ten in the morning in the service halls, the moment every right below is judged at.
NOW = datetime(2025, 6, 13, 10, 0, tzinfo=CHINA_TZ)

HEFEI, SHUSHAN, BAOHE = "340100", "340104", "340111"
FUYANG, YINGZHOU, YINGDONG, LINQUAN = "341200", "341202", "341203", "341221"
WUHU = "340200"


def rule(item_code: str) -> JurisdictionRule:
    """The jurisdiction rule of a published catalog item, as routing stores it."""
    item = get_item(item_code)
    assert item is not None, item_code
    return JurisdictionRule(
        item_code=item.item_code,
        jurisdiction=item.jurisdiction,
        competent_level=item.competent_level,
        department=item.department,
    )


def resolve(item_code: str, applicant_locality: str, property_locality: str | None = None) -> str:
    return competent_locality(
        rule(item_code),
        applicant_locality=applicant_locality,
        property_locality=property_locality,
        province=PROVINCE,
    )


def agreement(
    grantor: str = HEFEI,
    grantee: str = FUYANG,
    items: tuple[str, ...] = ("*",),
    rights: tuple[str, ...] = RIGHTS,
    valid_until: date | None = None,
    revoked_at: datetime | None = None,
) -> Agreement:
    return Agreement(
        grantor_locality=grantor,
        grantee_locality=grantee,
        item_codes=items,
        rights=frozenset(Right(r) for r in rights),
        valid_until=valid_until,
        revoked_at=revoked_at,
    )


# --- competent locality (属地) ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("item_code", "applicant_locality", "expected"),
    [
        # 户口迁移: the city of the household registration decides.
        ("GA-HJ-001", YINGZHOU, FUYANG),
        ("GA-HJ-001", SHUSHAN, HEFEI),
        ("GA-HJ-001", HEFEI, HEFEI),
        # 身份证换领: the county-level public security organ of the household decides.
        ("GA-SFZ-001", LINQUAN, LINQUAN),
        ("GA-SFZ-001", BAOHE, BAOHE),
        # Enterprise items: where the enterprise is registered, at the item's level.
        ("SJ-DJ-001", BAOHE, HEFEI),
        ("SJ-SP-001", BAOHE, BAOHE),
    ],
)
def test_household_and_enterprise_items_are_decided_where_the_applicant_is_registered(
    item_code: str, applicant_locality: str, expected: str
) -> None:
    assert resolve(item_code, applicant_locality) == expected


def test_property_items_are_decided_where_the_property_lies_not_where_the_applicant_lives() -> None:
    # A 颍州区 resident buying a flat in 蜀山区: 合肥's provident fund centre decides.
    assert resolve("ZF-GJJ-001", YINGZHOU, property_locality=SHUSHAN) == HEFEI
    assert resolve("ZF-BDC-001", SHUSHAN, property_locality=LINQUAN) == FUYANG


@pytest.mark.parametrize("property_locality", [None, ""])
def test_a_property_item_without_the_property_locality_cannot_be_resolved(
    property_locality: str | None,
) -> None:
    with pytest.raises(JurisdictionError) as raised:
        resolve("ZF-GJJ-001", YINGZHOU, property_locality=property_locality)
    assert raised.value.code == "property_locality_required"
    assert isinstance(raised.value, ValueError)


@pytest.mark.parametrize("applicant_locality", [YINGZHOU, SHUSHAN, "999999"])
def test_province_items_are_decided_by_the_province_wherever_the_applicant_lives(
    applicant_locality: str,
) -> None:
    assert resolve("JY-JS-001", applicant_locality) == PROVINCE
    assert resolve("ZF-JZS-001", applicant_locality) == PROVINCE


@pytest.mark.parametrize(
    ("item_code", "applicant_locality", "property_locality"),
    [
        ("GA-HJ-001", "341900", None),  # not an Anhui city
        ("GA-SFZ-001", "110105", None),  # Beijing
        ("SJ-DJ-001", "abc", None),
        ("ZF-GJJ-001", YINGZHOU, "999999"),  # the property's locality is the one checked
    ],
)
def test_an_unknown_locality_is_refused_not_guessed(
    item_code: str, applicant_locality: str, property_locality: str | None
) -> None:
    with pytest.raises(JurisdictionError) as raised:
        resolve(item_code, applicant_locality, property_locality)
    assert raised.value.code == "unknown_locality"


# --- trust agreements (协同办理授权) --------------------------------------------------------------


def test_a_fuyang_window_holds_no_rights_for_hefei_items_without_an_agreement() -> None:
    assert rights_of(YINGZHOU, HEFEI, "GA-HJ-001", [], at=NOW) == []


def test_an_agreement_for_another_pair_of_localities_grants_nothing() -> None:
    wuhu_to_fuyang = agreement(grantor=WUHU, grantee=FUYANG)
    hefei_to_wuhu = agreement(grantor=HEFEI, grantee=WUHU)
    assert rights_of(YINGZHOU, HEFEI, "GA-HJ-001", [wuhu_to_fuyang, hefei_to_wuhu], at=NOW) == []


def test_an_agreement_works_in_one_direction_only() -> None:
    hefei_to_fuyang = agreement(grantor=HEFEI, grantee=FUYANG)
    assert rights_of(YINGZHOU, HEFEI, "GA-HJ-001", [hefei_to_fuyang], at=NOW) == list(RIGHTS)
    # 合肥's windows gain nothing for 阜阳's items from 合肥's own grant.
    assert rights_of(SHUSHAN, FUYANG, "GA-HJ-001", [hefei_to_fuyang], at=NOW) == []


@pytest.mark.parametrize(
    "granted",
    [("accept",), ("notify", "deliver"), ("verify_original",), RIGHTS],
)
def test_a_window_holds_exactly_the_rights_granted(granted: tuple[str, ...]) -> None:
    agreements = [agreement(rights=granted)]
    rights = rights_of(YINGZHOU, HEFEI, "GA-HJ-001", agreements, at=NOW)
    assert rights == [right for right in RIGHTS if right in granted]


def test_rights_from_several_agreements_add_up_in_a_fixed_order() -> None:
    agreements = [
        agreement(rights=("deliver",)),
        agreement(rights=("accept",)),
        agreement(rights=("accept", "notify")),
    ]
    rights = rights_of(YINGZHOU, HEFEI, "GA-HJ-001", agreements, at=NOW)
    assert rights == ["accept", "notify", "deliver"]


def test_an_agreement_for_named_items_does_not_cover_other_items() -> None:
    agreements = [agreement(items=("GA-HJ-001", "SB-SBK-001"))]
    assert rights_of(YINGZHOU, HEFEI, "GA-HJ-001", agreements, at=NOW) == list(RIGHTS)
    assert rights_of(YINGZHOU, HEFEI, "SB-SBK-001", agreements, at=NOW) == list(RIGHTS)
    assert rights_of(YINGZHOU, HEFEI, "YL-YB-001", agreements, at=NOW) == []


def test_an_agreement_for_every_item_covers_any_item() -> None:
    agreements = [agreement(items=("*",))]
    for item_code in ("GA-HJ-001", "YL-YB-001", "ZF-GJJ-001"):
        assert rights_of(YINGZHOU, HEFEI, item_code, agreements, at=NOW) == list(RIGHTS)


def test_a_revoked_agreement_grants_nothing() -> None:
    revoked = agreement(revoked_at=NOW - timedelta(minutes=1))
    assert rights_of(YINGZHOU, HEFEI, "GA-HJ-001", [revoked], at=NOW) == []
    for right in RIGHTS:
        assert not agreement_grants(
            revoked,
            competent=HEFEI,
            receiving=YINGZHOU,
            item_code="GA-HJ-001",
            right=right,
            at=NOW,
        )


@pytest.mark.parametrize(
    ("valid_until", "grants"),
    [
        (None, True),  # open-ended
        (TODAY + timedelta(days=30), True),
        (TODAY, True),  # valid through its last day
        (TODAY - timedelta(days=1), False),  # expired yesterday
        (date(2024, 12, 31), False),
    ],
)
def test_an_expired_agreement_grants_nothing(valid_until: date | None, grants: bool) -> None:
    agreements = [agreement(valid_until=valid_until)]
    expected = list(RIGHTS) if grants else []
    assert rights_of(YINGZHOU, HEFEI, "GA-HJ-001", agreements, at=NOW) == expected


def test_a_city_level_agreement_covers_its_counties_on_both_sides() -> None:
    city_to_city = [agreement(grantor=HEFEI, grantee=FUYANG)]
    # 蜀山区 is competent for a county-level item; a 临泉县 window receives it.
    assert rights_of(LINQUAN, SHUSHAN, "GA-SFZ-001", city_to_city, at=NOW) == list(RIGHTS)
    # The city's own window is covered too.
    assert rights_of(FUYANG, SHUSHAN, "GA-SFZ-001", city_to_city, at=NOW) == list(RIGHTS)


def test_a_county_level_agreement_covers_neither_its_city_nor_its_sibling_counties() -> None:
    county_to_county = [agreement(grantor=SHUSHAN, grantee=YINGZHOU)]
    assert rights_of(YINGZHOU, SHUSHAN, "GA-SFZ-001", county_to_county, at=NOW) == list(RIGHTS)
    # Another 阜阳 county's window, or 阜阳's city window, is not the grantee.
    assert rights_of(YINGDONG, SHUSHAN, "GA-SFZ-001", county_to_county, at=NOW) == []
    assert rights_of(FUYANG, SHUSHAN, "GA-SFZ-001", county_to_county, at=NOW) == []
    # 蜀山区 cannot grant for what the city of 合肥 or 包河区 decides.
    assert rights_of(YINGZHOU, HEFEI, "GA-HJ-001", county_to_county, at=NOW) == []
    assert rights_of(YINGZHOU, BAOHE, "GA-SFZ-001", county_to_county, at=NOW) == []


@pytest.mark.parametrize("receiving", [YINGZHOU, LINQUAN, FUYANG, WUHU, "341800"])
def test_a_wildcard_grantee_covers_every_window_in_the_province(receiving: str) -> None:
    everyone = [agreement(grantor=HEFEI, grantee="*", rights=("accept",))]
    assert rights_of(receiving, HEFEI, "GA-HJ-001", everyone, at=NOW) == ["accept"]


# (Jiangsu's windows, 32xxxx, hold what the 跨省通办 agreements grant: see
# test_federation_agreements.py.)
@pytest.mark.parametrize("receiving", ["110105", "330106"])
def test_a_wildcard_grantee_does_not_cover_windows_outside_the_province(receiving: str) -> None:
    everyone = [agreement(grantor=HEFEI, grantee="*")]
    assert rights_of(receiving, HEFEI, "GA-HJ-001", everyone, at=NOW) == []


@pytest.mark.parametrize(
    ("receiving", "competent"),
    [
        (HEFEI, HEFEI),  # the city's own window
        (SHUSHAN, HEFEI),  # a county window of the competent city
        (BAOHE, BAOHE),  # a county window for its own county-level item
        (YINGZHOU, PROVINCE),  # a province item may be received at any window
        (SHUSHAN, PROVINCE),
    ],
)
def test_on_its_own_territory_a_window_holds_every_right_without_an_agreement(
    receiving: str, competent: str
) -> None:
    assert rights_of(receiving, competent, "GA-HJ-001", [], at=NOW) == list(RIGHTS)


def test_a_sibling_county_is_not_own_territory() -> None:
    # 包河区 is not within 蜀山区: a county-level item of 蜀山区 needs an agreement there.
    assert rights_of(BAOHE, SHUSHAN, "GA-SFZ-001", [], at=NOW) == []


def test_agreement_grants_checks_the_right_asked_for() -> None:
    accept_only = agreement(rights=("accept",))

    def grants(right: Right) -> bool:
        return agreement_grants(
            accept_only,
            competent=HEFEI,
            receiving=YINGZHOU,
            item_code="GA-HJ-001",
            right=right,
            at=NOW,
        )

    assert grants(Right.ACCEPT)
    assert not grants(Right.VERIFY_ORIGINAL)
    assert not grants(Right.DELIVER)


def test_a_right_is_judged_as_it_stood_at_the_moment_it_was_used() -> None:
    revoked_at_noon = agreement(revoked_at=datetime(2025, 6, 13, 12, 0, tzinfo=CHINA_TZ))
    morning, afternoon = NOW, datetime(2025, 6, 13, 15, 0, tzinfo=CHINA_TZ)
    assert rights_of(YINGZHOU, HEFEI, "GA-HJ-001", [revoked_at_noon], at=morning) == list(RIGHTS)
    assert rights_of(YINGZHOU, HEFEI, "GA-HJ-001", [revoked_at_noon], at=afternoon) == []


def test_validity_ends_at_midnight_in_china_not_in_utc() -> None:
    until_today = agreement(valid_until=TODAY)
    # 00:30 on the 14th in 合肥 is still the 13th in UTC: the agreement has ended.
    just_after_midnight = datetime(2025, 6, 14, 0, 30, tzinfo=CHINA_TZ)
    assert rights_of(YINGZHOU, HEFEI, "GA-HJ-001", [until_today], at=just_after_midnight) == []


# --- routing's own verdict on an accepted application -------------------------------------------


def book(*agreements: Agreement) -> RuleBook:
    return RuleBook.of([rule("GA-HJ-001")], agreements)


def test_routing_places_an_application_with_the_locality_its_own_rules_name() -> None:
    verdict = place(
        book(agreement()),
        item_code="GA-HJ-001",
        applicant_locality=SHUSHAN,
        property_locality=None,
        receiving_locality=YINGZHOU,
        accepted_at=NOW,
    )
    assert verdict == Placed(HEFEI, "公安局")


@pytest.mark.parametrize(
    ("item_code", "applicant_locality", "agreements", "reason"),
    [
        ("XX-NONE-001", SHUSHAN, [agreement()], UnroutableReason.NO_RULE),
        ("GA-HJ-001", "349999", [agreement()], UnroutableReason.UNKNOWN_LOCALITY),
        (
            "GA-HJ-001",
            SHUSHAN,
            [agreement(revoked_at=NOW - timedelta(seconds=1))],
            UnroutableReason.RIGHT_REVOKED,
        ),
        ("GA-HJ-001", SHUSHAN, [], UnroutableReason.RIGHT_REVOKED),
    ],
)
def test_routing_says_why_an_application_cannot_be_placed(
    item_code: str, applicant_locality: str, agreements: list[Agreement], reason: UnroutableReason
) -> None:
    verdict = place(
        book(*agreements),
        item_code=item_code,
        applicant_locality=applicant_locality,
        property_locality=None,
        receiving_locality=YINGZHOU,
        accepted_at=NOW,
    )
    assert isinstance(verdict, NotPlaced)
    assert verdict.reason == reason
    assert verdict.message


def test_a_revocation_after_acceptance_does_not_unroute_the_application() -> None:
    # Routing was down for an hour: the right was revoked after the window accepted.
    revoked_later = agreement(revoked_at=NOW + timedelta(hours=1))
    verdict = place(
        book(revoked_later),
        item_code="GA-HJ-001",
        applicant_locality=SHUSHAN,
        property_locality=None,
        receiving_locality=YINGZHOU,
        accepted_at=NOW,
    )
    assert isinstance(verdict, Placed)
