"""Administrative divisions (GB/T 2260) of Anhui used by Tongban.

A code is 6 digits: province (2) + city (2) + county (2). "340000" is the province, "340100"
a city (合肥市), "340104" a county-level district of it (蜀山区). County-level cities such as
巢湖市 (340181) are counties here: they sit under a prefecture-level city.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Annotated, Literal

from pydantic import Field

PROVINCE: str = "340000"

LocalityLevel = Literal["province", "city", "county"]


@dataclass(frozen=True)
class Locality:
    code: str
    name: str
    level: LocalityLevel
    parent: str | None


_CITIES: dict[str, str] = {
    "340100": "合肥市",
    "340200": "芜湖市",
    "340300": "蚌埠市",
    "340400": "淮南市",
    "340500": "马鞍山市",
    "340600": "淮北市",
    "340700": "铜陵市",
    "340800": "安庆市",
    "341000": "黄山市",
    "341100": "滁州市",
    "341200": "阜阳市",
    "341300": "宿州市",
    "341500": "六安市",
    "341600": "亳州市",
    "341700": "池州市",
    "341800": "宣城市",
}

# Only the counties and districts the sample data needs (合肥 and 阜阳), not all of Anhui.
_COUNTIES: dict[str, str] = {
    "340102": "瑶海区",
    "340103": "庐阳区",
    "340104": "蜀山区",
    "340111": "包河区",
    "340121": "长丰县",
    "340122": "肥东县",
    "340123": "肥西县",
    "340124": "庐江县",
    "340181": "巢湖市",
    "341202": "颍州区",
    "341203": "颍东区",
    "341204": "颍泉区",
    "341221": "临泉县",
    "341222": "太和县",
    "341225": "阜南县",
    "341226": "颍上县",
    "341282": "界首市",
}


def _build() -> dict[str, Locality]:
    table = {PROVINCE: Locality(PROVINCE, "安徽省", "province", None)}
    for code, name in _CITIES.items():
        table[code] = Locality(code, name, "city", PROVINCE)
    for code, name in _COUNTIES.items():
        table[code] = Locality(code, name, "county", code[:4] + "00")
    return table


LOCALITIES: Mapping[str, Locality] = MappingProxyType(_build())


def _is_code(code: str) -> bool:
    return len(code) == 6 and code.isascii() and code.isdigit()


def _check_code(code: str) -> None:
    if not _is_code(code):
        raise ValueError(f"not a 6-digit administrative division code: {code!r}")


def get_locality(code: str) -> Locality | None:
    """The locality with this code, or None if it is not one Tongban knows."""
    return LOCALITIES.get(code)


def is_known_locality(code: str) -> bool:
    return code in LOCALITIES


def city_of(code: str) -> str:
    """The city a code belongs to: a county's city, a city itself, the province itself.

    Derived from the code's structure, so it also works for codes not in LOCALITIES; raises
    ValueError for anything that is not 6 digits.
    """
    _check_code(code)
    if code.endswith("0000"):
        return code
    return code[:4] + "00"


def is_within(code: str, ancestor: str) -> bool:
    """True if `code` is `ancestor`, lies in city `ancestor`, or lies in province `ancestor`.

    False (not an error) for malformed codes such as "*": the safe answer to an access check.
    """
    if not (_is_code(code) and _is_code(ancestor)):
        return False
    return ancestor in (code, city_of(code), code[:2] + "0000")


def within_pattern(locality: str) -> str:
    """`is_within(code, locality)` as a SQL LIKE pattern: a province's is 34%, a city's 3401%,
    a county's only its own code."""
    if locality.endswith("0000"):
        return locality[:2] + "%"
    if locality.endswith("00"):
        return locality[:4] + "%"
    return locality


def locality_codes() -> list[str]:
    """All known codes, sorted."""
    return sorted(LOCALITIES)


# A locality code as it appears in request bodies (validated for shape; whether it is a known
# locality is a business rule answered by the services).
LocalityCode = Annotated[str, Field(pattern=r"^\d{6}$", examples=["340100"])]
