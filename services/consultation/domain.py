"""视频会商 as data: who may join a consultation, on which side, and its states.

A window clerk opens a consultation about an application (or an item and a draft, before
acceptance) with the competent locality. Only two kinds of caller may see or join it: a clerk at
the window that opened it (the `clerk` side), and a reviewer of the competent locality (the
`reviewer` side). Everyone else is refused, whatever their role: another locality's reviewer,
a clerk of another window, an operator.

    requested ──(the clerk's page connects: it rings)──▶ ringing
    ringing ──(a reviewer answers)──▶ in_call ──(either hangs up)──▶ ended
    requested / ringing ──(the clerk cancels)──▶ ended
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from shared.auth import Principal
from shared.errors import Conflict, Forbidden
from shared.i18n import _
from shared.messaging.events import ConsultationParty
from shared.reference.localities import is_within

Side = Literal["clerk", "reviewer"]
REVIEWER_ROLES = ("approver", "approval_system")


class State(StrEnum):
    REQUESTED = "requested"
    RINGING = "ringing"
    IN_CALL = "in_call"
    ENDED = "ended"


@dataclass(frozen=True)
class Consultation:
    consultation_id: str
    locality: str  # the competent locality, whose reviewers may join
    window_id: str  # the window that opened it, whose clerks may join
    window_locality: str
    state: State


def side_of(principal: Principal, consultation: Consultation) -> Side | None:
    """The side `principal` may take in `consultation`, or None if they may not join it."""
    if principal.role == "window_clerk":
        same_window = principal.window_id == consultation.window_id
        return (
            "clerk" if same_window and principal.locality == consultation.window_locality else None
        )
    if principal.role in REVIEWER_ROLES and principal.locality == consultation.locality:
        return "reviewer"
    return None


def may_see(principal: Principal, consultation: Consultation) -> bool:
    return side_of(principal, consultation) is not None


def check_side(principal: Principal, consultation: Consultation) -> Side:
    side = side_of(principal, consultation)
    if side is None:
        raise Forbidden(
            "not_a_party",
            _(
                "Only the window that opened this consultation and the competent "
                "locality's reviewers may join it."
            ),
        )
    return side


def party(principal: Principal) -> ConsultationParty:
    role = principal.role
    assert role in ("window_clerk", "approver", "approval_system")
    return ConsultationParty(
        sub=principal.sub, role=role, locality=principal.locality, window_id=principal.window_id
    )


def after_join(state: State, side: Side) -> State:
    """The state once `side` joined: the clerk's page rings, a reviewer's answer starts the call."""
    if state is State.ENDED:
        raise Conflict("consultation_ended", _("This consultation has ended."))
    if side == "clerk":
        return State.RINGING if state is State.REQUESTED else state
    return State.IN_CALL


def after_leave(state: State, side: Side) -> State:
    """Leaving ends the call once both were in it, or when the clerk cancels the ringing."""
    if state is State.IN_CALL or side == "clerk":
        return State.ENDED
    return state


def check_may_verify(principal: Principal, consultation: Consultation, in_call: bool) -> None:
    """原件核验 by video: a reviewer of the competent locality, once the call took place."""
    if side_of(principal, consultation) != "reviewer":
        raise Forbidden(
            "not_competent_reviewer",
            _("Only the competent locality's reviewers may verify an original by video."),
        )
    if not in_call:
        raise Conflict(
            "not_seen_in_call", _("An original can be verified only in or after the call.")
        )


def covers(grantee: str, locality: str) -> bool:
    """A grantee locality covers itself, and a city or the province every county within it."""
    return is_within(locality, grantee)
