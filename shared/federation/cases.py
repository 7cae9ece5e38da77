"""Which applications a province's own services leave to others (contracts/federation.md §11).

An application a partner province's window accepted (代收) is placed by this province's routing
and decided by its approval, but this province's intake never held it and its delivery does not
hand it over: the receiving province does, with the certificate its gateway gets back. The
receiving window's locality says so (routing places an application accepted at another
province's window only when a partner's gateway handed it in), and so does the application's
number, which names the window's locality (`TB<locality><date><sequence>`), for the events
that carry no receiving locality.
"""

from __future__ import annotations

import re

from shared.reference.localities import PROVINCE

_NUMBER = re.compile(r"^TB(\d{6})\d{8}\d+$")


def from_partner_window(receiving_locality: str) -> bool:
    """Whether a window of another province accepted the application (a partner's case)."""
    return receiving_locality[:2] != PROVINCE[:2]


def numbered_by_partner(application_no: str) -> bool:
    """Whether the application's number was given at another province's window."""
    match = _NUMBER.match(application_no)
    return match is not None and from_partner_window(match.group(1))
