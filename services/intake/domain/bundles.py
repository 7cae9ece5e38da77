"""A bundle application's state from its children's (一件事, aggregation `all_required`).
Pure functions: the process manager (usecases/bundle_manager.py) persists what they decide."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date

APPROVED = "approved"
REJECTED = "rejected"

OPEN = "open"  # a required child is still undecided
COMPLETED = "completed"  # every required child approved, nothing else still to decide
FAILED = "failed"  # a required child rejected: the bundle ends (withdrawal, revocation next)


@dataclass(frozen=True)
class Child:
    item_code: str
    required: bool
    held: bool
    outcome: str | None  # APPROVED, REJECTED, or None while undecided
    waits_for: Mapping[str, str] = field(default_factory=dict)


def never_released(children: Iterable[Child]) -> set[str]:
    """The held children that can no longer be released: something they wait for (directly
    or through another held child) was rejected."""
    children = list(children)
    blocked = {child.item_code for child in children if child.outcome == REJECTED}
    grew = True
    while grew:
        more = {
            child.item_code
            for child in children
            if child.held and child.item_code not in blocked and set(child.waits_for) & blocked
        }
        grew = bool(more)
        blocked |= more
    return {child.item_code for child in children if child.held and child.item_code in blocked}


def bundle_status(children: Iterable[Child]) -> str:
    """`all_required`: a required child rejected fails the bundle; it is completed once every
    required child is approved and every optional one is decided or can never be released."""
    children = list(children)
    if any(child.required and child.outcome == REJECTED for child in children):
        return FAILED
    stuck = never_released(children)
    pending = [c for c in children if c.outcome is None and c.item_code not in stuck]
    return OPEN if pending else COMPLETED


def estimated_dates(
    known: Mapping[str, date],
    held: Mapping[str, tuple[Mapping[str, str], Callable[[date], date]]],
) -> dict[str, date]:
    """Every child's promised date: `known` for those already accepted (their own clock), and
    for each held one, its own promised days (`later`) counted from the latest of what it waits
    for, itself estimated first when held too. Prerequisites not in the bundle application are
    left out (a held child always waits for at least one that is)."""
    dates = dict(known)

    def of(code: str) -> date:
        if code not in dates:
            waits_for, later = held[code]
            start = max(of(needs) for needs in waits_for if needs in dates or needs in held)
            dates[code] = later(start)
        return dates[code]

    for code in held:
        of(code)
    return dates
