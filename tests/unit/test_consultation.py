"""视频会商's rules without a broker: who may join on which side, how the state moves, and what
the signalling endpoint takes as a message."""

from __future__ import annotations

import json

import pytest

from services.consultation import domain
from services.consultation.domain import Consultation, State
from services.consultation.signalling import Bucket, Refused, parse
from shared.auth import Principal
from shared.errors import Conflict, Forbidden

CALL = Consultation("VC1", "340100", "W341200-02", "341200", State.REQUESTED)


def who(role: str, locality: str, window_id: str | None = None) -> Principal:
    return Principal(sub="someone", role=role, locality=locality, window_id=window_id)


@pytest.mark.parametrize(
    ("principal", "side"),
    [
        (who("window_clerk", "341200", "W341200-02"), "clerk"),
        (who("approver", "340100"), "reviewer"),
        (who("approval_system", "340100"), "reviewer"),
        (who("window_clerk", "341200", "W341200-01"), None),  # another window
        (who("window_clerk", "340100", "W341200-02"), None),  # a window not of its locality
        (who("approver", "340200"), None),  # another locality's reviewer
        (who("approver", "341200"), None),  # the window's locality is not competent
        (who("operator", "340100"), None),
        (who("admin", "340000"), None),
    ],
)
def test_only_the_window_and_the_competent_reviewers_are_parties(
    principal: Principal, side: str | None
) -> None:
    assert domain.side_of(principal, CALL) == side


def test_the_clerk_rings_a_reviewer_answers_a_leave_ends_the_call() -> None:
    assert domain.after_join(State.REQUESTED, "clerk") is State.RINGING
    assert domain.after_join(State.RINGING, "reviewer") is State.IN_CALL
    assert domain.after_leave(State.IN_CALL, "reviewer") is State.ENDED
    assert domain.after_leave(State.RINGING, "clerk") is State.ENDED  # the clerk gave up
    with pytest.raises(Conflict):
        domain.after_join(State.ENDED, "reviewer")


def test_only_a_competent_reviewer_verifies_and_only_once_the_call_took_place() -> None:
    with pytest.raises(Forbidden):
        domain.check_may_verify(who("window_clerk", "341200", "W341200-02"), CALL, True)
    with pytest.raises(Conflict):
        domain.check_may_verify(who("approver", "340100"), CALL, False)
    domain.check_may_verify(who("approver", "340100"), CALL, True)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("x" * 2000, "message_too_large"),
        ("{not json", "malformed_message"),
        ("[1, 2]", "malformed_message"),
        (json.dumps({"type": "shout"}), "malformed_message"),
        (json.dumps({"type": "offer"}), "malformed_message"),
        (json.dumps({"type": "offer", "sdp": "v=0", "to": "everyone"}), "malformed_message"),
        (json.dumps({"type": "answer", "sdp": "v=0", "to": "recorder"}), "malformed_message"),
        (json.dumps({"type": "candidate", "candidate": "a string"}), "malformed_message"),
        (None, "malformed_message"),
    ],
)
def test_a_bad_message_is_refused_with_its_reason(raw: str | None, reason: str) -> None:
    with pytest.raises(Refused) as refused:
        parse(raw, 1024)
    assert refused.value.reason == reason


def test_good_messages_pass() -> None:
    for message in (
        {"type": "offer", "sdp": "v=0", "to": "recorder"},
        {"type": "answer", "sdp": "v=0", "to": "peer"},
        {"type": "candidate", "candidate": None},
        {"type": "candidate", "candidate": {"candidate": "", "sdpMid": "0"}, "to": "peer"},
        {"type": "hangup"},
    ):
        assert parse(json.dumps(message), 1024) == message


def test_the_bucket_allows_a_burst_then_the_rate() -> None:
    bucket = Bucket(rate=0.001, burst=3)
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]
