"""一件事 as catalog data: the five bundles of the built-in version and what a load refuses."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from services.intake.schemas import CatalogVersionIn
from shared.reference.bundles import Bundle
from shared.reference.catalog import (
    BUNDLES,
    CATALOG_VERSION,
    PublishedCatalog,
    catalog_file,
    get_bundle,
    get_item,
    load_catalog,
)


def _data_file() -> dict[str, Any]:
    loaded = json.loads(catalog_file(CATALOG_VERSION).read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def _bundle(body: dict[str, Any], bundle_id: str) -> dict[str, Any]:
    found = next(b for b in body["bundles"] if b["bundle_id"] == bundle_id)
    assert isinstance(found, dict)
    return found


def _refused(tmp_path: Path, body: dict[str, Any], reason: str) -> None:
    path = tmp_path / "catalog-broken.json"
    path.write_text(json.dumps(body, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(ValueError, match=reason):
        load_catalog(path)
    # Publishing the same body through intake is refused for the same reason.
    with pytest.raises(ValidationError, match=reason):
        CatalogVersionIn.model_validate(body)


# --- the five bundles ------------------------------------------------------------------------

EXPECTED = {
    "YJS-XSECS": (
        "新生儿出生一件事",
        "卫生健康委员会",
        {
            "WJ-CS-001": ("卫生健康委员会", True),
            "GA-HJ-003": ("公安局", True),
            "YL-CB-001": ("医疗保障局", True),
            "SB-SBK-002": ("人力资源和社会保障局", True),
            "WJ-YM-001": ("卫生健康委员会", False),
            "YL-SY-001": ("医疗保障局", False),
        },
    ),
    "YJS-QYKB": (
        "企业开办一件事",
        "市场监督管理局",
        {
            "SJ-DJ-003": ("市场监督管理局", True),
            "GA-YZ-001": ("公安局", True),
            "SW-FP-001": ("税务局", True),
            "SB-DW-001": ("人力资源和社会保障局", True),
            "ZF-GJJ-005": ("住房公积金管理中心", False),
        },
    ),
    "YJS-ESFGH": (
        "二手房转移登记及水电气过户一件事",
        "不动产登记中心",
        {
            "SW-QS-001": ("税务局", True),
            "ZF-BDC-002": ("不动产登记中心", True),
            "GY-GS-001": ("供水公司", False),
            "GY-GD-001": ("供电公司", False),
            "GY-RQ-001": ("燃气公司", False),
        },
    ),
    "YJS-TX": (
        "退休一件事",
        "人力资源和社会保障局",
        {
            "SB-TX-001": ("人力资源和社会保障局", True),
            "YL-TX-001": ("医疗保障局", True),
            "ZF-GJJ-003": ("住房公积金管理中心", False),
        },
    ),
    "YJS-SH": (
        "身后一件事",
        "民政局",
        {
            "WJ-SW-001": ("卫生健康委员会", True),
            "GA-HJ-004": ("公安局", True),
            "MZ-BZ-001": ("民政局", False),
            "SB-SZ-001": ("人力资源和社会保障局", False),
            "ZF-GJJ-004": ("住房公积金管理中心", False),
        },
    ),
}


def test_the_built_in_version_publishes_the_five_bundles_with_their_members() -> None:
    assert {bundle.bundle_id for bundle in BUNDLES} == set(EXPECTED)
    for bundle_id, (name, lead, members) in EXPECTED.items():
        bundle = get_bundle(bundle_id)
        assert bundle is not None
        assert (bundle.name, bundle.lead_department, bundle.aggregation) == (
            name,
            lead,
            "all_required",
        )
        assert {m.item_code: (m.department, m.required) for m in bundle.members} == members
        for member in bundle.members:
            item = get_item(member.item_code)
            assert item is not None and item.department == member.department
        assert bundle.shared_fields, bundle_id


def test_the_household_step_of_a_birth_waits_for_the_birth_certificate_cited_not_uploaded() -> None:
    bundle = get_bundle("YJS-XSECS")
    assert bundle is not None
    [waits] = bundle.prerequisites("GA-HJ-003")
    assert (waits.needs, waits.material_code) == ("WJ-CS-001", "M01")
    registration = get_item("GA-HJ-003")
    assert registration is not None
    material = registration.material("M01")
    assert material is not None and material.name == "出生医学证明"
    assert material.certificate_items == ["WJ-CS-001"]  # 免证办: cited from the registry
    order = bundle.order()
    # Medical insurance and the social security card need the household register it issues.
    assert order.index("WJ-CS-001") < order.index("GA-HJ-003") < order.index("YL-CB-001")
    assert order.index("GA-HJ-003") < order.index("SB-SBK-002")
    assert bundle.prerequisites("WJ-CS-001") == []


def test_every_dependency_is_served_by_a_certificate_its_material_accepts() -> None:
    for bundle in BUNDLES:
        for dependency in bundle.dependencies:
            item = get_item(dependency.item_code)
            assert item is not None
            material = item.material(dependency.material_code)
            assert material is not None and dependency.needs in material.certificate_items


def test_the_previous_version_keeps_its_items_and_has_no_bundles() -> None:
    """2025.1 stays as the province published it: a database that holds it keeps it."""
    previous = load_catalog(catalog_file("2025.1"))
    assert previous.bundles == [] and len(previous.items) == 28
    assert all(get_item(item.item_code) == item for item in previous.items)


# --- what a load refuses ---------------------------------------------------------------------


def test_a_bundle_naming_an_item_not_in_its_version_is_refused(tmp_path: Path) -> None:
    body = _data_file()
    _bundle(body, "YJS-TX")["members"].append(
        {"item_code": "SB-XX-999", "department": "人力资源和社会保障局", "required": False}
    )
    _refused(tmp_path, body, "YJS-TX: SB-XX-999 is not in the catalog")


def test_a_member_under_another_department_than_its_items_is_refused(tmp_path: Path) -> None:
    body = _data_file()
    _bundle(body, "YJS-QYKB")["members"][1]["department"] = "市场监督管理局"
    _refused(tmp_path, body, "YJS-QYKB: GA-YZ-001 is handled by 公安局")


def test_a_cycle_of_dependencies_is_refused(tmp_path: Path) -> None:
    body = _data_file()
    _bundle(body, "YJS-XSECS")["dependencies"].append(
        {"item_code": "WJ-CS-001", "needs": "YL-CB-001", "material_code": "M01"}
    )
    _refused(tmp_path, body, "YJS-XSECS: dependencies form a cycle")


def test_a_lead_department_handling_none_of_the_members_is_refused(tmp_path: Path) -> None:
    body = _data_file()
    _bundle(body, "YJS-SH")["lead_department"] = "公安厅"
    _refused(tmp_path, body, "YJS-SH: lead department 公安厅 handles none of its members")


def test_a_dependency_the_material_does_not_accept_as_a_certificate_is_refused(
    tmp_path: Path,
) -> None:
    body = _data_file()
    _bundle(body, "YJS-TX")["dependencies"][0]["material_code"] = "M01"  # 居民身份证
    _refused(tmp_path, body, "YJS-TX: YL-TX-001 M01 does not accept a certificate of SB-TX-001")


def test_a_dependency_on_a_non_member_is_refused(tmp_path: Path) -> None:
    body = _data_file()
    _bundle(body, "YJS-TX")["dependencies"][0]["needs"] = "GA-HJ-003"
    _refused(tmp_path, body, "YJS-TX: dependency on GA-HJ-003, not a member")


def test_a_required_member_waiting_for_an_optional_one_is_refused(tmp_path: Path) -> None:
    body = _data_file()
    _bundle(body, "YJS-ESFGH")["members"][0]["required"] = False  # 契税申报
    _refused(tmp_path, body, "required ZF-BDC-002 cannot wait for optional SW-QS-001")


def test_a_bundle_id_twice_or_a_member_twice_is_refused(tmp_path: Path) -> None:
    body = _data_file()
    body["bundles"].append(_bundle(body, "YJS-TX"))
    _refused(tmp_path, body, "repeated: YJS-TX")
    body = _data_file()
    members = _bundle(body, "YJS-TX")["members"]
    members.append(members[0])
    _refused(tmp_path, body, "YJS-TX: a member may appear once")


def test_a_bundle_for_an_enterprise_with_members_only_a_person_applies_for_is_refused(
    tmp_path: Path,
) -> None:
    body = _data_file()
    _bundle(body, "YJS-TX")["applicant_kind"] = "enterprise"
    _refused(tmp_path, body, "YJS-TX: SB-TX-001 takes no enterprise applicant")


def test_the_data_file_round_trips_through_the_model() -> None:
    body = _data_file()
    published = PublishedCatalog.model_validate(body)
    assert [b.model_dump(mode="json") for b in published.bundles] == body["bundles"]
    assert [Bundle.model_validate(b) for b in body["bundles"]] == list(BUNDLES)
