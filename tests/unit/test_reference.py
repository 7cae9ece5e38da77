"""Reference data: administrative divisions and the 通办 item catalog."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from services.intake.schemas import CatalogVersionIn
from shared.reference.catalog import (
    CATALOG,
    CATALOG_VERSION,
    CatalogItem,
    Material,
    catalog_file,
    get_item,
    handled_anywhere_items,
    load_catalog,
)
from shared.reference.localities import (
    LOCALITIES,
    PROVINCE,
    city_of,
    get_locality,
    is_known_locality,
    is_within,
    load_localities,
    locality_codes,
)

DOMAINS = {"公安", "市场监管", "教育", "医疗", "住房", "社保", "民政", "交通"}

# --- localities -----------------------------------------------------------------------------


def test_province_cities_and_counties() -> None:
    province = get_locality(PROVINCE)
    assert province is not None and province.name == "安徽省" and province.parent is None
    cities = [loc for loc in LOCALITIES.values() if loc.level == "city"]
    assert len(cities) == 16
    assert all(city.parent == PROVINCE for city in cities)
    shushan = get_locality("340104")
    assert shushan is not None
    assert (shushan.name, shushan.level, shushan.parent) == ("蜀山区", "county", "340100")
    jieshou = get_locality("341282")
    assert jieshou is not None and jieshou.name == "界首市" and jieshou.parent == "341200"


def test_every_county_of_the_province_is_listed() -> None:
    counties = [loc for loc in LOCALITIES.values() if loc.level == "county"]
    assert 100 <= len(counties) <= 110  # 104 in 2024: 45 districts, 50 counties, 9 cities
    for county in counties:
        assert county.parent is not None
        city = get_locality(county.parent)
        assert city is not None and city.level == "city"
        assert county.parent == city_of(county.code)
    # Every city has its own districts or counties.
    assert {county.parent for county in counties} == {
        loc.code for loc in LOCALITIES.values() if loc.level == "city"
    }


@pytest.mark.parametrize(
    ("code", "name", "city"),
    [
        ("340202", "镜湖区", "340200"),
        ("340210", "湾沚区", "340200"),
        ("340281", "无为市", "340200"),
        ("340422", "寿县", "340400"),
        ("340523", "和县", "340500"),
        ("340711", "郊区", "340700"),
        ("340722", "枞阳县", "340700"),
        ("340882", "潜山市", "340800"),
        ("341003", "黄山区", "341000"),
        ("341504", "叶集区", "341500"),
        ("341882", "广德市", "341800"),
    ],
)
def test_county_names_and_cities(code: str, name: str, city: str) -> None:
    county = get_locality(code)
    assert county is not None
    assert (county.name, county.level, county.parent) == (name, "county", city)


def test_every_parent_is_known_and_one_level_up() -> None:
    levels = {"province": 0, "city": 1, "county": 2}
    for locality in LOCALITIES.values():
        if locality.parent is None:
            assert locality.code == PROVINCE
            continue
        parent = get_locality(locality.parent)
        assert parent is not None
        assert levels[parent.level] == levels[locality.level] - 1


def test_lookups() -> None:
    assert is_known_locality("341202")
    assert not is_known_locality("341900")  # 341900 is not an Anhui city
    assert get_locality("110000") is None
    codes = locality_codes()
    assert codes == sorted(codes) and codes[0] == PROVINCE and len(codes) == len(LOCALITIES)


def test_localities_are_read_only() -> None:
    with pytest.raises(TypeError):
        LOCALITIES["999999"] = LOCALITIES[PROVINCE]  # type: ignore[index]


LOCALITIES_HEADER = "code,name,level,parent\n"
PROVINCE_AND_HEFEI = "340000,安徽省,province,\n340100,合肥市,city,340000\n"


def test_a_localities_file_is_read_as_the_built_in_table_is(tmp_path: Path) -> None:
    table = tmp_path / "localities.csv"
    table.write_text(LOCALITIES_HEADER + PROVINCE_AND_HEFEI + "340104,蜀山区,county,340100\n")
    read = load_localities(table)
    assert list(read) == ["340000", "340100", "340104"]
    assert read["340104"] == LOCALITIES["340104"]


@pytest.mark.parametrize(
    ("row", "problem"),
    [
        ("3401040,蜀山区,county,340100", "line 4: not a locality"),  # 7 digits
        ("340104,,county,340100", "line 4: not a locality"),  # no name
        ("340104,蜀山区,district,340100", "line 4: not a locality"),  # no such level
        ("340100,合肥市,city,340000", "line 4: 340100 is listed twice"),
        ("340104,蜀山区,city,340000", "its code is that of a county"),
        ("340104,蜀山区,county,340000", "its parent is 340100"),
        ("340204,某区,county,340200", "its parent 340200 is not listed"),
        ("320102,玄武区,county,320100", "not a division of the province"),
    ],
)
def test_a_broken_localities_file_fails_naming_itself(
    tmp_path: Path, row: str, problem: str
) -> None:
    table = tmp_path / "localities.csv"
    table.write_text(LOCALITIES_HEADER + PROVINCE_AND_HEFEI + row + "\n")
    with pytest.raises(ValueError, match=problem) as failure:
        load_localities(table)
    assert str(table) in str(failure.value)


@pytest.mark.parametrize(
    ("code", "city"),
    [("340104", "340100"), ("340181", "340100"), ("341226", "341200"), ("341200", "341200")],
)
def test_city_of(code: str, city: str) -> None:
    assert city_of(code) == city


def test_city_of_province_is_the_province() -> None:
    assert city_of(PROVINCE) == PROVINCE


@pytest.mark.parametrize("code", ["", "34010", "3401040", "34O104", "*"])
def test_city_of_refuses_malformed_codes(code: str) -> None:
    with pytest.raises(ValueError):
        city_of(code)


@pytest.mark.parametrize(
    ("code", "ancestor", "expected"),
    [
        ("340104", "340104", True),
        ("340104", "340100", True),
        ("340104", PROVINCE, True),
        ("340100", PROVINCE, True),
        (PROVINCE, PROVINCE, True),
        ("340104", "341200", False),  # 合肥's district is not in 阜阳
        ("340104", "340103", False),  # nor in a sibling district
        ("340100", "340104", False),  # a city is not within its district
        (PROVINCE, "340100", False),
        ("320102", PROVINCE, False),  # another province
        ("340104", "*", False),
    ],
)
def test_is_within(code: str, ancestor: str, expected: bool) -> None:
    assert is_within(code, ancestor) is expected


# --- catalog --------------------------------------------------------------------------------


def test_item_codes_are_unique_and_found() -> None:
    codes = [item.item_code for item in CATALOG]
    assert len(codes) == len(set(codes))
    assert len(CATALOG) >= 24
    for item in CATALOG:
        assert get_item(item.item_code) is item
    assert get_item("NO-SUCH-ITEM") is None


def test_catalog_covers_the_plans_domains_and_every_jurisdiction() -> None:
    assert {item.domain for item in CATALOG} >= DOMAINS
    assert {item.jurisdiction for item in CATALOG} == {
        "household",
        "enterprise",
        "property",
        "province",
    }
    assert any(item.competent_level == "county" for item in CATALOG)
    assert any(
        item.jurisdiction == "enterprise" and item.applicant_kinds == ["enterprise"]
        for item in CATALOG
    )


def test_every_domain_has_at_least_three_items() -> None:
    for domain in DOMAINS:
        assert sum(item.domain == domain for item in CATALOG) >= 3, domain


def test_handled_anywhere_items_are_the_flagged_ones() -> None:
    codes = handled_anywhere_items()
    assert codes and codes == sorted(codes)
    assert codes == sorted(item.item_code for item in CATALOG if item.handled_anywhere)
    not_listed = [item.item_code for item in CATALOG if not item.handled_anywhere]
    assert not_listed, "the flag should mean something"
    assert not set(not_listed) & set(codes)
    # Items inspected on site are not on the province's list.
    for code in ("SJ-YP-001", "SB-GS-001", "JT-CX-001"):
        assert code in not_listed


@pytest.mark.parametrize("item", CATALOG, ids=lambda item: item.item_code)
def test_item_is_well_formed(item: CatalogItem) -> None:
    assert 0 < item.promised_days <= item.statutory_days
    assert item.fee_yuan >= 0
    assert item.delivery_methods and item.applicant_kinds and item.materials
    codes = [material.material_code for material in item.materials]
    assert len(codes) == len(set(codes))
    # Flags only make sense for a material the applicant would otherwise have to bring.
    for material in item.materials:
        if material.deferrable or material.commitment_allowed:
            assert material.required
    # Something must be handed in for real; an item of only optional material would be empty.
    key = [
        m for m in item.materials if m.required and not m.deferrable and not m.commitment_allowed
    ]
    assert key, f"{item.item_code} has no key material"
    # The code's prefix names the domain, so it stays stable and readable.
    prefix = item.item_code.split("-")[0]
    assert item.item_code.isascii() and prefix.isupper()
    # The guide names what the item rests on and where to ask.
    assert item.legal_basis.strip() and "《" in item.legal_basis
    assert item.contact_phone.strip()
    assert 1 <= item.deferred_days <= 30


def test_ga_hj_001_shape() -> None:
    item = get_item("GA-HJ-001")
    assert item is not None
    assert item.domain == "公安"
    assert item.jurisdiction == "household" and item.competent_level == "city"
    assert {"window_pickup", "postal"} <= set(item.delivery_methods)
    assert item.applicant_kinds == ["person"]
    materials = {m.material_code: m for m in item.materials}
    key = materials["M01"]
    assert key.required and key.original_required
    assert not key.deferrable and not key.commitment_allowed
    assert materials["M02"].required and materials["M02"].deferrable
    assert materials["M03"].required and materials["M03"].commitment_allowed
    assert item.material("M03") == materials["M03"]
    assert item.material("M99") is None


def test_guide_json_has_the_public_field_names() -> None:
    item = get_item("GA-SFZ-001")
    assert item is not None
    guide = json.loads(item.model_dump_json())
    for field in (
        "item_code",
        "name",
        "domain",
        "department",
        "jurisdiction",
        "statutory_days",
        "promised_days",
        "fee_yuan",
        "delivery_methods",
        "materials",
        "legal_basis",
        "contact_phone",
        "deferred_days",
        "handled_anywhere",
    ):
        assert field in guide
    assert guide["fee_yuan"] == 20  # a JSON number, not a string
    assert set(guide["materials"][0]) == {
        "material_code",
        "name",
        "required",
        "deferrable",
        "commitment_allowed",
        "original_required",
        "certificate_items",
    }
    assert CatalogItem.model_validate(guide) == item


def _item(**overrides: object) -> dict[str, object]:
    data: dict[str, object] = {
        "item_code": "XX-TEST-001",
        "name": "测试事项",
        "domain": "公安",
        "department": "公安局",
        "jurisdiction": "household",
        "statutory_days": 5,
        "promised_days": 3,
        "fee_yuan": Decimal("0"),
        "delivery_methods": ["window_pickup"],
        "materials": [Material(material_code="M01", name="居民身份证", required=True)],
        "applicant_kinds": ["person"],
        "legal_basis": "《中华人民共和国户口登记条例》第十条",
        "contact_phone": "0551-12345",
    }
    data.update(overrides)
    return data


def test_item_rules_are_enforced() -> None:
    item = CatalogItem.model_validate(_item())
    assert item.competent_level == "city"
    assert item.deferred_days == 5 and item.handled_anywhere
    with pytest.raises(ValidationError, match="promised_days"):
        CatalogItem.model_validate(_item(promised_days=6))
    first = Material(material_code="M01", name="居民身份证", required=True)
    duplicate = Material(material_code="M01", name="户口簿", required=True)
    with pytest.raises(ValidationError, match="unique"):
        CatalogItem.model_validate(_item(materials=[first, duplicate]))
    with pytest.raises(ValidationError):
        CatalogItem.model_validate(_item(jurisdiction="residence"))
    with pytest.raises(ValidationError):
        CatalogItem.model_validate(_item(delivery_methods=[]))
    with pytest.raises(ValidationError, match="legal_basis"):
        CatalogItem.model_validate(_item(legal_basis=""))
    with pytest.raises(ValidationError, match="contact_phone"):
        CatalogItem.model_validate(_item(contact_phone="call us"))
    with pytest.raises(ValidationError, match="deferred_days"):
        CatalogItem.model_validate(_item(deferred_days=0))
    with pytest.raises(ValidationError, match="deferred_days"):
        CatalogItem.model_validate(_item(deferred_days=31))


def test_catalog_items_cannot_be_changed_in_place() -> None:
    item = get_item("GA-HJ-001")
    assert item is not None
    with pytest.raises(ValidationError):
        item.promised_days = 1  # type: ignore[misc]


# --- the catalog's data file --------------------------------------------------------------


def _data_file() -> dict[str, Any]:
    loaded = json.loads(catalog_file(CATALOG_VERSION).read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def test_the_built_in_version_is_its_data_file() -> None:
    body = _data_file()
    assert body["version"] == CATALOG_VERSION == "2025.2"
    assert len(CATALOG) == 51
    assert [CatalogItem.model_validate(item) for item in body["items"]] == list(CATALOG)


def test_the_data_file_is_a_version_intake_accepts_for_publication() -> None:
    """The same model `POST /v1/catalog/versions` parses its body with."""
    published = CatalogVersionIn.model_validate_json(catalog_file(CATALOG_VERSION).read_bytes())
    assert published.version == CATALOG_VERSION
    assert [item.model_dump() for item in published.items] == [
        item.model_dump() for item in CATALOG
    ]


def test_the_data_file_spells_out_every_field_in_the_models_order() -> None:
    for item in _data_file()["items"]:
        assert list(item) == list(CatalogItem.model_fields), item["item_code"]
        for material in item["materials"]:
            assert list(material) == list(Material.model_fields), item["item_code"]


def test_ga_hj_001_is_the_guide_the_readme_walks_through() -> None:
    """README's application: a 合肥 resident at a 阜阳 window brings M01, signs a commitment
    for M03, and M02 is deferred; 免证办 cites a GA-HJ-002 certificate for M02."""
    item = get_item("GA-HJ-001")
    assert item is not None
    assert (item.name, item.department) == ("户口迁移证明开具", "公安局")
    assert (item.jurisdiction, item.competent_level) == ("household", "city")
    assert not item.handled_anywhere  # 阜阳 takes it under 合肥's agreement, not the province's
    assert (item.statutory_days, item.promised_days, item.fee_yuan) == (20, 5, Decimal("0"))
    names = {m.material_code: m.name for m in item.materials}
    assert names == {"M01": "居民身份证", "M02": "居民户口簿复印件", "M03": "亲属关系证明"}
    register = item.material("M02")
    assert register is not None and register.certificate_items == ["GA-HJ-002"]


def test_every_certificate_a_material_accepts_is_of_a_catalog_item() -> None:
    cited = {
        code
        for item in CATALOG
        for material in item.materials
        for code in material.certificate_items
    }
    assert cited >= {"GA-HJ-002", "JY-JS-001", "JT-CY-001"}
    assert all(get_item(code) is not None for code in cited), cited


def test_a_broken_catalog_file_fails_naming_itself_and_the_field(tmp_path: Path) -> None:
    body = _data_file()
    items = body["items"]
    del items[3]["legal_basis"]
    broken = tmp_path / "catalog-2025.1.json"
    broken.write_text(json.dumps(body, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(ValueError, match="legal_basis") as failure:
        load_catalog(broken)
    assert str(broken) in str(failure.value) and "items.3.legal_basis" in str(failure.value)

    broken.write_text(json.dumps({**body, "items": [items[0], items[0]]}), encoding="utf-8")
    with pytest.raises(ValueError, match="repeated: GA-HJ-001"):
        load_catalog(broken)
    broken.write_text("{", encoding="utf-8")
    with pytest.raises(ValueError, match=re.escape(str(broken))):
        load_catalog(broken)
