"""Routing's rules: where an accepted application goes, judged again by routing itself.

The rules of jurisdiction and trust agreements are in `shared.jurisdiction` (intake applies the
same ones to its replica); what is routing's alone is the verdict on an application that a
window accepted: placed with its competent locality, or unroutable with a reason. Routing
trusts nothing the application says about where it should go: it resolves the competent
locality from its own rules, and checks the receiving window's accept right as it stood at the
moment of acceptance, so a right revoked inside intake's replica lag is caught and recorded.

Pure functions over plain values, tested without a database or a broker.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from shared.jurisdiction import JurisdictionError, RuleBook
from shared.reference.localities import get_locality
from shared.vocabulary import Right, UnroutableReason


@dataclass(frozen=True)
class Placed:
    competent_locality: str
    department: str


@dataclass(frozen=True)
class NotPlaced:
    reason: UnroutableReason
    message: str


def place(
    book: RuleBook,
    *,
    item_code: str,
    applicant_locality: str,
    property_locality: str | None,
    receiving_locality: str,
    accepted_at: datetime,
) -> Placed | NotPlaced:
    """The competent locality of an accepted application, or why there is none."""
    try:
        resolution = book.resolve(
            item_code=item_code,
            applicant_locality=applicant_locality,
            property_locality=property_locality,
            receiving_locality=receiving_locality,
            at=accepted_at,
        )
    except JurisdictionError as problem:
        return NotPlaced(problem.reason, str(problem))
    if resolution is None:
        return NotPlaced(UnroutableReason.NO_RULE, f"No jurisdiction rule for item {item_code}.")
    if Right.ACCEPT not in resolution.receiving_rights:
        return NotPlaced(
            UnroutableReason.RIGHT_REVOKED,
            f"Windows of {_named(receiving_locality)} held no accept right for {item_code} "
            f"from {_named(resolution.competent_locality)} when the application was accepted "
            "(revoked before intake learnt of it).",
        )
    return Placed(resolution.competent_locality, resolution.department)


def _named(code: str) -> str:
    locality = get_locality(code)
    return f"{code} {locality.name}" if locality else code
