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

# Every county-level division of the province (GB/T 2260, codes in force in 2024): its 市辖区,
# 县 and 县级市, grouped by city. 104 in all: 45 districts, 50 counties, 9 county-level cities.
_COUNTIES: dict[str, str] = {
    # 合肥市
    "340102": "瑶海区",
    "340103": "庐阳区",
    "340104": "蜀山区",
    "340111": "包河区",
    "340121": "长丰县",
    "340122": "肥东县",
    "340123": "肥西县",
    "340124": "庐江县",
    "340181": "巢湖市",
    # 芜湖市
    "340202": "镜湖区",
    "340207": "鸠江区",
    "340209": "弋江区",
    "340210": "湾沚区",
    "340212": "繁昌区",
    "340223": "南陵县",
    "340281": "无为市",
    # 蚌埠市
    "340302": "龙子湖区",
    "340303": "蚌山区",
    "340304": "禹会区",
    "340311": "淮上区",
    "340321": "怀远县",
    "340322": "五河县",
    "340323": "固镇县",
    # 淮南市
    "340402": "大通区",
    "340403": "田家庵区",
    "340404": "谢家集区",
    "340405": "八公山区",
    "340406": "潘集区",
    "340421": "凤台县",
    "340422": "寿县",
    # 马鞍山市
    "340503": "花山区",
    "340504": "雨山区",
    "340506": "博望区",
    "340521": "当涂县",
    "340522": "含山县",
    "340523": "和县",
    # 淮北市
    "340602": "杜集区",
    "340603": "相山区",
    "340604": "烈山区",
    "340621": "濉溪县",
    # 铜陵市
    "340705": "铜官区",
    "340706": "义安区",
    "340711": "郊区",
    "340722": "枞阳县",
    # 安庆市
    "340802": "迎江区",
    "340803": "大观区",
    "340811": "宜秀区",
    "340822": "怀宁县",
    "340825": "太湖县",
    "340826": "宿松县",
    "340827": "望江县",
    "340828": "岳西县",
    "340881": "桐城市",
    "340882": "潜山市",
    # 黄山市
    "341002": "屯溪区",
    "341003": "黄山区",
    "341004": "徽州区",
    "341021": "歙县",
    "341022": "休宁县",
    "341023": "黟县",
    "341024": "祁门县",
    # 滁州市
    "341102": "琅琊区",
    "341103": "南谯区",
    "341122": "来安县",
    "341124": "全椒县",
    "341125": "定远县",
    "341126": "凤阳县",
    "341181": "天长市",
    "341182": "明光市",
    # 阜阳市
    "341202": "颍州区",
    "341203": "颍东区",
    "341204": "颍泉区",
    "341221": "临泉县",
    "341222": "太和县",
    "341225": "阜南县",
    "341226": "颍上县",
    "341282": "界首市",
    # 宿州市
    "341302": "埇桥区",
    "341321": "砀山县",
    "341322": "萧县",
    "341323": "灵璧县",
    "341324": "泗县",
    # 六安市
    "341502": "金安区",
    "341503": "裕安区",
    "341504": "叶集区",
    "341522": "霍邱县",
    "341523": "舒城县",
    "341524": "金寨县",
    "341525": "霍山县",
    # 亳州市
    "341602": "谯城区",
    "341621": "涡阳县",
    "341622": "蒙城县",
    "341623": "利辛县",
    # 池州市
    "341702": "贵池区",
    "341721": "东至县",
    "341722": "石台县",
    "341723": "青阳县",
    # 宣城市
    "341802": "宣州区",
    "341821": "郎溪县",
    "341823": "泾县",
    "341824": "绩溪县",
    "341825": "旌德县",
    "341881": "宁国市",
    "341882": "广德市",
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


LIKE_ESCAPE = "\\"


def escape_like(text: str) -> str:
    """`text` matched literally in a LIKE pattern (with `escape=LIKE_ESCAPE`): its own %, _ and
    escape characters lose their meaning."""
    return (
        text.replace(LIKE_ESCAPE, LIKE_ESCAPE * 2)
        .replace("%", LIKE_ESCAPE + "%")
        .replace("_", LIKE_ESCAPE + "_")
    )


def within_pattern(locality: str) -> str:
    """`is_within(code, locality)` as a SQL LIKE pattern (use with `escape=LIKE_ESCAPE`): a
    province's is 34%, a city's 3401%, a county's only its own code. Whatever `locality` holds
    is matched literally, so a claim such as "%" matches nothing rather than everything."""
    if _is_code(locality) and locality.endswith("0000"):
        return escape_like(locality[:2]) + "%"
    if _is_code(locality) and locality.endswith("00"):
        return escape_like(locality[:4]) + "%"
    return escape_like(locality)


def locality_codes() -> list[str]:
    """All known codes, sorted."""
    return sorted(LOCALITIES)


# A locality code as it appears in request bodies (validated for shape; whether it is a known
# locality is a business rule answered by the services).
LocalityCode = Annotated[str, Field(pattern=r"^\d{6}$", examples=["340100"])]
