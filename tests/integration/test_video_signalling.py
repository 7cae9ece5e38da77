"""Who may join a video consultation, and what a bad signalling message does.

Only the window that opened a consultation (one clerk at a time) and the competent locality's
reviewers get through the signalling endpoint: a missing or invalid token, another locality's
reviewer, a clerk of another window, an operator and a second clerk are each refused with a
clear close code. An oversized, malformed or too frequent message closes that party's socket
(4413, 4400, 4429) and nothing else: another call goes on, and the service keeps answering.
"""

from __future__ import annotations

import json
import uuid

import pytest
import websockets
from websockets.typing import Origin

from services.consultation.pages import COOKIE
from tests.consultation import (
    OTHER_WINDOW,
    WUHU,
    clerk_token,
    close_code,
    connect,
    consultation,
    open_consultation,
    receive,
    reviewer_token,
)
from tests.harness import Stack

pytestmark = pytest.mark.integration
__all__ = ["consultation"]


def _number() -> str:
    return f"TB-VIDEO-{uuid.uuid4().hex[:10].upper()}"


async def test_only_the_window_and_the_competent_reviewers_get_through(
    stack: Stack, consultation: str
) -> None:
    path = (await open_consultation(stack, _number()))["signalling"]
    refused = {
        "no token": (None, 4401, "token_required"),
        "a forged token": ("not-a-token", 4401, "invalid_token"),
        "another locality's reviewer": (reviewer_token(stack, WUHU), 4403, "not_a_party"),
        "a clerk of another window": (
            clerk_token(stack, OTHER_WINDOW, sub="clerk-fy-01"),
            4403,
            "not_a_party",
        ),
        "an operator": (stack.token("operator", "340100"), 4403, "not_a_party"),
    }
    for who, (token, code, reason) in refused.items():
        socket = await connect(consultation, path, token)
        assert await close_code(socket) == (code, reason), who

    # The pages' cookie counts only from the service's own pages (not another site's).
    url = consultation.replace("http://", "ws://") + path
    cookie = {"Cookie": f"{COOKIE}={reviewer_token(stack)}"}
    evil = await websockets.connect(
        url, additional_headers=cookie, origin=Origin("http://evil.example")
    )
    assert await close_code(evil) == (4401, "token_required")

    clerk = await connect(consultation, path, clerk_token(stack))
    await receive(clerk, "welcome")
    second = await connect(consultation, path, clerk_token(stack, sub="clerk-fy-03b"))
    assert await close_code(second) == (4409, "side_taken")
    missing = await connect(consultation, "/v1/consultations/VC0000/signal", clerk_token(stack))
    assert await close_code(missing) == (4404, "consultation_not_found")

    # The REST API answers them alike: another locality does not see the consultation.
    consultation_id = path.split("/")[3]
    async with stack.client("consultation", reviewer_token(stack, WUHU)) as http:
        assert (await http.get(f"/v1/consultations/{consultation_id}")).status_code == 404
    async with stack.client("consultation") as http:
        assert (await http.get(f"/v1/consultations/{consultation_id}")).status_code == 401
    # The refused left no trace: only the clerk joined.
    async with stack.client("consultation", reviewer_token(stack)) as http:
        shown = (await http.get(f"/v1/consultations/{consultation_id}")).json()
    assert shown["state"] == "ringing"
    # From its own page the cookie is the reviewer's token: the call is answered.
    own = Origin(consultation)
    reviewer = await websockets.connect(url, additional_headers=cookie, origin=own)
    assert (await receive(reviewer, "welcome"))["side"] == "reviewer"
    # Ended through the REST API: both sockets are told and closed.
    async with stack.client("consultation", reviewer_token(stack)) as http:
        ended = await http.post(f"/v1/consultations/{consultation_id}/end")
    assert ended.status_code == 200 and ended.json()["state"] == "ended"
    for socket in (clerk, reviewer):
        await receive(socket, "ended")
        assert await close_code(socket) == (1000, "ended")


async def test_a_bad_message_closes_that_socket_and_nothing_else(
    stack: Stack, consultation: str
) -> None:
    # Call B: both parties in, relaying.
    b_path = (await open_consultation(stack, _number()))["signalling"]
    b_clerk = await connect(consultation, b_path, clerk_token(stack))
    await receive(b_clerk, "welcome")
    b_reviewer = await connect(consultation, b_path, reviewer_token(stack))
    await receive(b_reviewer, "welcome")

    limit = stack.services["consultation"].app.state.settings.consultation_max_message_bytes
    bad = {
        "oversized": ("x" * (limit + 1), (4413, "message_too_large")),
        "not JSON": ("{offer", (4400, "malformed_message")),
        "an unknown type": (json.dumps({"type": "shout"}), (4400, "malformed_message")),
        "an offer without SDP": (json.dumps({"type": "offer"}), (4400, "malformed_message")),
    }
    for what, (message, closed) in bad.items():
        path = (await open_consultation(stack, _number()))["signalling"]
        clerk = await connect(consultation, path, clerk_token(stack, sub=f"clerk-{what}"))
        await receive(clerk, "welcome")
        await clerk.send(message)
        assert await close_code(clerk) == closed, what

    # Too many messages: the burst, then more at once.
    path = (await open_consultation(stack, _number()))["signalling"]
    clerk = await connect(consultation, path, clerk_token(stack, sub="clerk-chatty"))
    await receive(clerk, "welcome")
    burst = stack.services["consultation"].app.state.settings.consultation_message_burst
    candidate = json.dumps({"type": "candidate", "to": "peer", "candidate": None})
    for _ in range(burst + 5):
        await clerk.send(candidate)
    assert await close_code(clerk) == (4429, "rate_limited")

    # Call B was not affected: a candidate still crosses it.
    await b_clerk.send(
        json.dumps(
            {"type": "candidate", "to": "peer", "candidate": {"candidate": "", "sdpMid": "0"}}
        )
    )
    relayed = await receive(b_reviewer, "candidate")
    assert relayed["from"] == "clerk" and relayed["candidate"]["sdpMid"] == "0"
    await b_clerk.send(json.dumps({"type": "hangup"}))
    assert await close_code(b_reviewer) == (1000, "ended")
