"""Routing's rules: who is competent for an application, and what a receiving locality may do.

Pure functions over plain values, so they are tested without a database or a broker.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Literal

from shared.reference.localities import PROVINCE, city_of, is_known_locality, is_within

Right = Literal["accept", "notify", "verify_original", "deliver"]
RIGHTS: tuple[Right, ...] = ("accept", "notify", "verify_original", "deliver")
Jurisdiction = Literal["household", "enterprise", "property", "province"]


class JurisdictionError(ValueError):
    """The competent locality cannot be resolved; `field` names the input at fault."""

    def __init__(self, code: str, message: str, field: str) -> None:
        super().__init__(message)
        self.code = code
        self.field = field


@dataclass(frozen=True)
class JurisdictionRule:
    item_code: str
    jurisdiction: Jurisdiction
    competent_level: Literal["city", "county"]
    department: str


@dataclass(frozen=True)
class Agreement:
    grantor_locality: str
    grantee_locality: str  # a code, or "*" for every window in the province
    item_codes: tuple[str, ...]  # codes, or ("*",)
    rights: frozenset[str]
    valid_until: date | None = None
    revoked: bool = False


def competent_locality(
    rule: JurisdictionRule,
    *,
    applicant_locality: str,
    property_locality: str | None,
    province: str,
) -> str:
    """属地: the locality whose department decides, from the item's jurisdiction rule."""
    if rule.jurisdiction == "province":
        return province
    if rule.jurisdiction == "property":
        if not property_locality:
            raise JurisdictionError(
                "property_locality_required",
                "This item is decided where the property lies.",
                "property_locality",
            )
        base, field = property_locality, "property_locality"
    else:  # household registration or enterprise registration: the applicant's own locality
        base, field = applicant_locality, "applicant_locality"
    if not is_known_locality(base):
        raise JurisdictionError("unknown_locality", f"Unknown locality code {base}.", field)
    return city_of(base) if rule.competent_level == "city" else base


def agreement_grants(
    agreement: Agreement,
    *,
    competent: str,
    receiving: str,
    item_code: str,
    right: str,
    today: date,
) -> bool:
    if agreement.revoked or right not in agreement.rights:
        return False
    if agreement.valid_until is not None and agreement.valid_until < today:
        return False
    if "*" not in agreement.item_codes and item_code not in agreement.item_codes:
        return False
    # A city's agreement covers its counties on either side.
    if not is_within(competent, agreement.grantor_locality):
        return False
    if agreement.grantee_locality == "*":  # every window in the province, none outside it
        return is_within(receiving, PROVINCE)
    return is_within(receiving, agreement.grantee_locality)


def rights_of(
    receiving: str,
    competent: str,
    item_code: str,
    agreements: Iterable[Agreement],
    *,
    today: date,
) -> list[str]:
    """协同办理授权: the rights a receiving locality's windows hold for this item."""
    if is_within(receiving, competent):
        # Its own territory needs no agreement; for a province-level item that is every window
        # in the province.
        return list(RIGHTS)
    granted = {
        right
        for agreement in agreements
        for right in RIGHTS
        if agreement_grants(
            agreement,
            competent=competent,
            receiving=receiving,
            item_code=item_code,
            right=right,
            today=today,
        )
    }
    return [right for right in RIGHTS if right in granted]
