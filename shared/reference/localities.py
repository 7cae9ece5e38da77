"""Administrative divisions (GB/T 2260) of the province this Tongban serves.

The province is a setting read at import: `TONGBAN_PROVINCE` (or `PROVINCE`, the settings'
older name), default 340000 (安徽省). It chooses the data file: Anhui's divisions are
data/localities.csv, any other province's data/localities-<code>.csv (Jiangsu's, 320000, is a
small set for the federation's second province, contracts/federation.md §13).

A code is 6 digits: province (2) + city (2) + county (2). "340000" is the province, "340100"
a city (合肥市), "340104" a county-level district of it (蜀山区). County-level cities such as
巢湖市 (340181) are counties here: they sit under a prefecture-level city.

The divisions are data (data/localities.csv), read and checked when the module is imported.
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Literal

from pydantic import Field, TypeAdapter, ValidationError

DEFAULT_PROVINCE = "340000"
PROVINCE_VARIABLES = ("TONGBAN_PROVINCE", "PROVINCE")


def province_from(environ: Mapping[str, str]) -> str:
    """The province a process serves: the first of PROVINCE_VARIABLES set, else Anhui. A value
    that is not a province's code (6 digits ending 0000) fails here, at import."""
    value = next((environ[name] for name in PROVINCE_VARIABLES if environ.get(name)), None)
    province = (value or DEFAULT_PROVINCE).strip()
    if not re.fullmatch(r"[1-9]\d0000", province):
        raise ValueError(f"TONGBAN_PROVINCE={province!r} is not a province's code (like 340000)")
    return province


PROVINCE: str = province_from(os.environ)

LocalityLevel = Literal["province", "city", "county"]

# A locality code as it appears in request bodies (validated for shape; whether it is a known
# locality is a business rule answered by the services).
LocalityCode = Annotated[str, Field(pattern=r"^\d{6}$", examples=["340100"])]


@dataclass(frozen=True)
class Locality:
    code: LocalityCode
    name: Annotated[str, Field(min_length=1)]
    level: LocalityLevel
    parent: LocalityCode | None


def localities_file(province: str) -> Path:
    """A province's divisions as shipped: Anhui's every division (GB/T 2260, codes in force in
    2024: the province, its 16 cities, their 104 county-level divisions), one a row; another
    province's file, localities-<code>.csv, only the few a demonstration needs."""
    name = "localities.csv" if province == DEFAULT_PROVINCE else f"localities-{province}.csv"
    return Path(__file__).with_name("data") / name


_DATA = localities_file(PROVINCE)
_ROW: TypeAdapter[Locality] = TypeAdapter(Locality)


def load_localities(path: Path, province: str = PROVINCE) -> dict[str, Locality]:
    """The divisions of a CSV file (UTF-8, header `code,name,level,parent`, an empty parent for
    the province), each checked: a 6-digit code of `province` once, a name, a level, and the
    parent one level up that the code's own digits name. A file that is not such a table (or
    not there: a province Tongban has no data for) fails here, naming itself and its line: at
    import, for the built-in one."""
    if not path.is_file():
        raise ValueError(f"{path}: no divisions for the province {province}")
    table: dict[str, Locality] = {}
    with path.open(newline="", encoding="utf-8") as handle:
        for line, row in enumerate(csv.DictReader(handle), start=2):
            try:
                locality = _ROW.validate_python({**row, "parent": row.get("parent") or None})
            except ValidationError as problem:
                raise ValueError(f"{path}, line {line}: not a locality\n{problem}") from None
            if locality.code in table:
                raise ValueError(f"{path}, line {line}: {locality.code} is listed twice")
            table[locality.code] = locality
    for locality in table.values():
        wrong = _misplaced(locality, table, province)
        if wrong:
            raise ValueError(f"{path}: {locality.code} {locality.name}: {wrong}")
    return table


def _misplaced(locality: Locality, table: Mapping[str, Locality], province: str) -> str | None:
    """What is wrong with where the locality sits in the table, or None. Its code's digits say
    its level and its parent (city_of and is_within rely on that), so the row must agree."""
    code = locality.code
    level: LocalityLevel = (
        "province" if code.endswith("0000") else "city" if code.endswith("00") else "county"
    )
    parent = {"province": None, "city": province, "county": code[:4] + "00"}[level]
    if code[:2] != province[:2] or (level == "province" and code != province):
        return f"not a division of the province {province}"
    if locality.level != level:
        return f"its code is that of a {level}"
    if locality.parent != parent:
        return f"its parent is {parent}, as its code says"
    if parent is not None and parent not in table:
        return f"its parent {parent} is not listed"
    return None


# Read once, when the module is first imported.
LOCALITIES: Mapping[str, Locality] = MappingProxyType(load_localities(_DATA))


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
