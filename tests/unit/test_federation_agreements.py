"""跨省通办 agreements per partner and per item (shared.federation.agreements): the competent
locality in a partner province, the rights its agreement grants this province's windows, and
no right at all for an item no agreement names."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from services.routing import domain
from shared.federation.agreements import AGREEMENTS, load_agreements
from shared.jurisdiction import JurisdictionRule, RuleBook
from shared.vocabulary import CompetentLevel, Jurisdiction, Right

NOW = datetime(2026, 12, 3, 8, tzinfo=UTC)
FUYANG_WINDOW = "341200"
XUANWU = "320102"  # 南京市玄武区, Jiangsu


def book() -> RuleBook:
    rules = [
        JurisdictionRule("GA-HJ-001", Jurisdiction.HOUSEHOLD, CompetentLevel.COUNTY, "公安局"),
        JurisdictionRule("SB-SBK-001", Jurisdiction.HOUSEHOLD, CompetentLevel.CITY, "人社局"),
        JurisdictionRule("MZ-DB-001", Jurisdiction.HOUSEHOLD, CompetentLevel.COUNTY, "民政局"),
        JurisdictionRule("JT-YS-001", Jurisdiction.ENTERPRISE, CompetentLevel.CITY, "交通局"),
    ]
    return RuleBook.of(rules, [])


def resolve(item_code: str, applicant_locality: str = XUANWU) -> tuple[str, frozenset[Right]]:
    resolution = book().resolve(
        item_code=item_code,
        applicant_locality=applicant_locality,
        property_locality=None,
        receiving_locality=FUYANG_WINDOW,
        at=NOW,
    )
    assert resolution is not None
    return resolution.competent_locality, resolution.receiving_rights


def test_a_jiangsu_resident_is_decided_in_jiangsu_at_the_level_the_agreement_names() -> None:
    # Anhui's rule says county; Jiangsu's agreement for the national code says city.
    assert resolve("GA-HJ-001") == ("320100", frozenset(Right))
    # The social security card: county in Jiangsu, and no original's check granted.
    competent, rights = resolve("SB-SBK-001")
    assert competent == XUANWU
    assert rights == {Right.ACCEPT, Right.NOTIFY, Right.DELIVER}


def test_an_item_no_agreement_names_gives_no_right_at_all() -> None:
    # 最低生活保障 has a national code but Jiangsu does not accept it from Anhui's windows.
    assert resolve("MZ-DB-001") == (XUANWU, frozenset())
    # An item without a national code cannot be named across the border at all.
    assert AGREEMENTS.national_code("JT-YS-001") is None
    assert resolve("JT-YS-001")[1] == frozenset()


def test_anhui_residents_are_not_touched() -> None:
    competent, rights = resolve("GA-HJ-001", applicant_locality=FUYANG_WINDOW)
    assert competent == FUYANG_WINDOW and rights == frozenset(Right)


def test_routing_places_a_covered_item_with_the_partner_and_refuses_the_rest() -> None:
    placed = domain.place(
        book(),
        item_code="GA-HJ-001",
        applicant_locality=XUANWU,
        property_locality=None,
        receiving_locality=FUYANG_WINDOW,
        accepted_at=NOW,
    )
    assert placed == domain.Placed("320100", "公安局")
    refused = domain.place(
        book(),
        item_code="MZ-DB-001",
        applicant_locality=XUANWU,
        property_locality=None,
        receiving_locality=FUYANG_WINDOW,
        accepted_at=NOW,
    )
    assert isinstance(refused, domain.NotPlaced)


def test_an_expired_agreement_grants_nothing() -> None:
    later = datetime(2028, 1, 1, tzinfo=UTC)
    assert AGREEMENTS.rights("GA-HJ-001", competent="320100", receiving="341200", at=later) == (
        frozenset()
    )


def test_both_directions_name_the_item_alike() -> None:
    there = AGREEMENTS.find("GA-HJ-001", competent_province="32", receiving_province="34")
    back = AGREEMENTS.find("GA-HJ-001", competent_province="34", receiving_province="32")
    assert there and back and there.national_code == back.national_code == "000111012000"
    assert AGREEMENTS.province_name("320100") == "江苏省"


def test_a_file_with_two_agreements_for_one_item_and_pair_is_refused(tmp_path: Path) -> None:
    data = json.loads(Path("shared/reference/data/federation-agreements.json").read_text("utf-8"))
    data["agreements"].append({**data["agreements"][0], "id": "again"})
    bad = tmp_path / "agreements.json"
    bad.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(ValueError, match="two agreements"):
        load_agreements(bad)
