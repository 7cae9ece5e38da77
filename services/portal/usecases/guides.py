"""事前辅导: the guides of the catalog (shared.reference.catalog), searched by name or code, each
with its checklist of materials and the level its online submission needs."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from services.portal.domain import SUBMIT, Level
from shared.reference.catalog import CATALOG, CatalogItem, Material, get_item


def _folded(text: str) -> str:
    # Full-width input (ＧＡ－ＨＪ) and case do not matter.
    return unicodedata.normalize("NFKC", text).casefold().strip()


def search(query: str) -> list[CatalogItem]:
    """Items whose name, code, domain or department contains the query; all when it is empty."""
    wanted = _folded(query)
    if not wanted:
        return list(CATALOG)
    return [
        item
        for item in CATALOG
        if any(
            wanted in _folded(field)
            for field in (item.name, item.item_code, item.domain, item.department)
        )
    ]


@dataclass(frozen=True)
class ChecklistEntry:
    material: Material
    # 免证办: the applicant's own valid certificate that proves it (no upload), if any.
    covered_by: str | None = None


@dataclass(frozen=True)
class Guide:
    item: CatalogItem
    checklist: list[ChecklistEntry]
    submit_level: Level


def guide(item_code: str, certificates: dict[str, str] | None = None) -> Guide | None:
    """The item's guide; `certificates` ({item_code: certificate_no}, the applicant's own valid
    ones) marks the materials they cover."""
    item = get_item(item_code)
    if item is None:
        return None
    own = certificates or {}
    checklist = [
        ChecklistEntry(
            material,
            next((own[code] for code in material.certificate_items if code in own), None),
        )
        for material in item.materials
    ]
    return Guide(item, checklist, SUBMIT)
