"""The registry of residents the portal signs in against (实名认证): ID number → name, phone.

Reference data, a CSV file (`id_number,name,phone`): the built-in one covers the sample
applicants of the reference journey (tooling/journey.py) and the tests. A province replaces it
with PORTAL_RESIDENTS_FILE, or replaces the whole built-in sign-in with its identity provider
(统一身份认证, OIDC; contracts/portal.md). It is looked up by the ID number's keyed digest, so
the portal keeps no ID number in its sessions or its database.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from shared.identity import id_number_digest, normalize_id_number

BUILT_IN = Path(__file__).parent / "data" / "residents.csv"


@dataclass(frozen=True)
class Resident:
    id_number: str
    name: str
    phone: str


class Residents:
    def __init__(self, residents: list[Resident], digest_key: bytes) -> None:
        self._by_digest = {id_number_digest(r.id_number, digest_key): r for r in residents}
        self.digest_key = digest_key

    def digest(self, id_number: str) -> str:
        return id_number_digest(id_number, self.digest_key)

    def find(self, id_digest: str) -> Resident | None:
        return self._by_digest.get(id_digest)


@lru_cache(maxsize=4)
def _read(path: str) -> tuple[Resident, ...]:
    with Path(path).open(newline="", encoding="utf-8") as handle:
        return tuple(
            Resident(normalize_id_number(row["id_number"]), row["name"].strip(), row["phone"])
            for row in csv.DictReader(handle)
        )


def load_residents(path: str | None, digest_key: bytes) -> Residents:
    return Residents(list(_read(path or str(BUILT_IN))), digest_key)
