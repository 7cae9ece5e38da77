"""跨省通办 agreements per partner province and per item (contracts/federation.md §8).

Reference data published like the catalog (shared/reference/data/federation-agreements.json,
read and checked at import): both provinces publish the same bilateral file, so both name an item
alike, by its national basic-catalog code (国家基本目录编码), whatever its code in each
province's own catalog. An agreement says that the competent province lets the receiving
province's windows take an item in its name, with which of the rights the seeds name (收件,
一次性告知, 原件核验, 送达), until when, and at which level of the competent province the item
is decided. The file also names, per province, its items' national codes; its localities are
its file in shared/reference/data (`localities_file`). This province (TONGBAN_PROVINCE) reads
its own codes and every other province's localities: Anhui and Jiangsu read the same file.

No agreement, no right: an item without a national code, or one the competent province does not
accept from this province, is refused at the window (intake) and by routing again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any

from shared.clock import CHINA_TZ
from shared.reference.localities import PROVINCE, Locality, load_localities, localities_file
from shared.vocabulary import CompetentLevel, Right

_DATA = Path(__file__).resolve().parents[1] / "reference" / "data" / "federation-agreements.json"


@dataclass(frozen=True)
class CrossBorderAgreement:
    id: str
    competent_province: str  # two digits: the province that decides
    receiving_province: str  # two digits: the province whose windows take the application
    national_code: str
    competent_level: CompetentLevel
    rights: frozenset[Right]
    valid_until: date | None

    def in_force(self, at: datetime) -> bool:
        return self.valid_until is None or at.astimezone(CHINA_TZ).date() <= self.valid_until


@dataclass(frozen=True)
class Agreements:
    version: str
    national_codes: MappingProxyType[str, str]  # this province's item code → national code
    province_names: MappingProxyType[str, str]
    partner_localities: MappingProxyType[str, Locality]
    agreements: tuple[CrossBorderAgreement, ...]

    def national_code(self, item_code: str) -> str | None:
        return self.national_codes.get(item_code)

    def item_code_of(self, national_code: str) -> str | None:
        """This province's item of a national code (what a partner's message names)."""
        for item_code, national in self.national_codes.items():
            if national == national_code:
                return item_code
        return None

    def province_name(self, province: str) -> str:
        return self.province_names.get(province[:2], province[:2])

    def is_partner_locality(self, code: str) -> bool:
        """A locality of another province that an agreement of this file reaches."""
        return code in self.partner_localities and code[:2] != PROVINCE[:2]

    def find(
        self, item_code: str, *, competent_province: str, receiving_province: str
    ) -> CrossBorderAgreement | None:
        national = self.national_code(item_code)
        for agreement in self.agreements:
            if (
                agreement.national_code == national
                and agreement.competent_province == competent_province[:2]
                and agreement.receiving_province == receiving_province[:2]
            ):
                return agreement
        return None

    def rights(
        self, item_code: str, *, competent: str, receiving: str, at: datetime
    ) -> frozenset[Right]:
        """What windows of `receiving` may do for `competent` (another province's locality)
        on this item at `at`: the rights of an agreement in force, else none."""
        agreement = self.find(
            item_code, competent_province=competent[:2], receiving_province=receiving[:2]
        )
        if agreement is None or not agreement.in_force(at):
            return frozenset()
        return agreement.rights

    def competent_in_partner(self, item_code: str, base: str, level: CompetentLevel) -> str:
        """The partner province's competent locality for an application whose locality is
        `base` (one of the partner's): its city or itself, at the level the agreement names
        (the rule's own level when no agreement covers the item: refused later for rights)."""
        agreement = self.find(item_code, competent_province=base[:2], receiving_province=PROVINCE)
        level = agreement.competent_level if agreement else level
        if level == CompetentLevel.CITY and not base.endswith("0000"):
            return base[:4] + "00"
        return base


def load_agreements(path: Path = _DATA, province: str = PROVINCE) -> Agreements:
    """The file's agreements as `province` reads them (its own items' national codes, the
    other provinces' localities), checked: every agreement's codes and rights known, its
    provinces listed, no two agreements for one (competent, receiving, national code)."""
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    names = {p["code"]: p["name"] for p in data["provinces"]}
    localities: dict[str, Locality] = {}
    national: set[str] = set()
    own: dict[str, str] = {}
    for listed in data["provinces"]:
        national.update(listed["national_codes"].values())
        if listed["code"] == province[:2]:
            own = dict(listed["national_codes"])
            continue
        code = listed["code"] + "0000"
        localities.update(load_localities(localities_file(code), province=code))
    found: list[CrossBorderAgreement] = []
    seen: set[tuple[str, str, str]] = set()
    for row in data["agreements"]:
        agreement = CrossBorderAgreement(
            id=row["id"],
            competent_province=row["competent_province"],
            receiving_province=row["receiving_province"],
            national_code=row["national_code"],
            competent_level=CompetentLevel(row["competent_level"]),
            rights=frozenset(Right(right) for right in row["rights"]),
            valid_until=date.fromisoformat(row["valid_until"]) if row.get("valid_until") else None,
        )
        key = (agreement.competent_province, agreement.receiving_province, agreement.national_code)
        if key in seen:
            raise ValueError(f"{path}: two agreements for {key}")
        if agreement.national_code not in national:
            raise ValueError(f"{path}: {agreement.id} names an unknown national code")
        if not {agreement.competent_province, agreement.receiving_province} <= names.keys():
            raise ValueError(f"{path}: {agreement.id} names a province not listed")
        seen.add(key)
        found.append(agreement)
    return Agreements(
        version=data["version"],
        national_codes=MappingProxyType(own),
        province_names=MappingProxyType(names),
        partner_localities=MappingProxyType(localities),
        agreements=tuple(found),
    )


# Read once, when the module is first imported.
AGREEMENTS = load_agreements()
