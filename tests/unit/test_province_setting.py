"""The province as a setting (TONGBAN_PROVINCE, read at import): Jiangsu's Tongban reads
Jiangsu's localities, catalog, national codes and seeds, and sees Anhui as its partner; a
province without data, or settings naming another province, stop the start. Each case is a
fresh interpreter, as a service process would be (the reference data is read at import)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from shared.reference.localities import DEFAULT_PROVINCE, PROVINCE, province_from

ROOT = Path(__file__).resolve().parents[2]

JIANGSU = """
import json
from datetime import UTC, datetime
from shared.federation.agreements import AGREEMENTS
from shared.jurisdiction import JurisdictionRule, RuleBook
from shared.reference.catalog import CATALOG, CATALOG_VERSION, get_item
from shared.reference.localities import LOCALITIES, PROVINCE, get_locality
from shared.settings import Settings
from shared.vocabulary import CompetentLevel, Jurisdiction
from tooling.seed import DEMO_AGREEMENTS

rule = JurisdictionRule("JS-GA-0101", Jurisdiction.HOUSEHOLD, CompetentLevel.COUNTY, "公安局")
resolved = RuleBook.of([rule], []).resolve(
    item_code="JS-GA-0101", applicant_locality="341202", property_locality=None,
    receiving_locality="320102", at=datetime(2026, 12, 3, tzinfo=UTC),
)
print(json.dumps({
    "province": PROVINCE,
    "settings": Settings().province,
    "localities": sorted(LOCALITIES),
    "nanjing": get_locality("320100").name,
    "catalog": [CATALOG_VERSION, [item.item_code for item in CATALOG]],
    "anhui_item": get_item("GA-HJ-001") is not None,
    "national": AGREEMENTS.national_code("JS-GA-0101"),
    "back": AGREEMENTS.item_code_of("000111012000"),
    "fuyang_is_partner": AGREEMENTS.is_partner_locality("341200"),
    "xuanwu_is_partner": AGREEMENTS.is_partner_locality("320102"),
    "competent": resolved.competent_locality,
    "rights": sorted(resolved.receiving_rights),
    "seeds": [(a["grantor_locality"], a["grantee_locality"]) for a in DEMO_AGREEMENTS],
}, ensure_ascii=False))
"""


def run(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k not in ("PROVINCE", "TONGBAN_PROVINCE")}
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=environment | {"PYTHONPATH": str(ROOT)} | env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_anhui_is_the_default_province() -> None:
    assert PROVINCE == DEFAULT_PROVINCE == province_from({})
    assert province_from({"PROVINCE": "320000"}) == "320000"
    assert province_from({"TONGBAN_PROVINCE": "320000", "PROVINCE": "340000"}) == "320000"


def test_jiangsu_reads_its_own_reference_data_and_sees_anhui_as_its_partner() -> None:
    done = run(JIANGSU, TONGBAN_PROVINCE="320000")
    assert done.returncode == 0, done.stderr
    seen: dict[str, Any] = json.loads(done.stdout)
    assert seen["province"] == seen["settings"] == "320000"
    assert seen["localities"][:3] == ["320000", "320100", "320102"]
    assert all(code.startswith("32") for code in seen["localities"])
    assert seen["nanjing"] == "南京市"
    assert seen["catalog"] == ["2026.1", ["JS-GA-0101", "JS-SB-0201", "JS-YL-0301"]]
    assert seen["anhui_item"] is False
    # Both provinces name the household item alike, by its national code.
    assert seen["national"] == "000111012000" and seen["back"] == "JS-GA-0101"
    assert seen["fuyang_is_partner"] is True and seen["xuanwu_is_partner"] is False
    # An Anhui resident at a 南京 window: decided by 阜阳市 (the agreement names the city), with
    # the rights Anhui grants Jiangsu's windows for that item.
    assert seen["competent"] == "341200"
    assert seen["rights"] == ["accept", "deliver", "notify", "verify_original"]
    # Only the province's own default agreement is seeded: Anhui's cities are not Jiangsu's.
    assert seen["seeds"] == [["320000", "*"]]


def test_a_province_without_reference_data_stops_the_start() -> None:
    done = run("import shared.settings", TONGBAN_PROVINCE="110000")
    assert done.returncode != 0
    assert "localities-110000.csv: no divisions for the province 110000" in done.stderr
    done = run("import shared.reference.localities", TONGBAN_PROVINCE="3200")
    assert "is not a province's code" in done.stderr


def test_settings_naming_another_province_than_the_data_read_stop_the_start() -> None:
    code = "from shared.settings import Settings; Settings(_env_file=None, province='340000')"
    done = run(code, TONGBAN_PROVINCE="320000")
    assert done.returncode != 0
    assert "the province 340000 is not 320000" in done.stderr
