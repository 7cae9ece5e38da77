"""The signalling endpoint: WS /v1/consultations/{id}/signal.

Each party's page (or any WebRTC client) connects with its token: the `Authorization: Bearer`
header, or the pages' session cookie. The same rule as the REST routes decides who may join
(services.consultation.domain): the clerk's window on one side, the competent locality's
reviewers on the other, one socket per side. Messages are JSON objects:

    {"type": "offer" | "answer", "sdp": "...", "to": "peer" | "recorder"}
    {"type": "candidate", "candidate": {...} | null, "to": "peer"}
    {"type": "hangup"}

What goes `to` "peer" is relayed to the other side as it is (with "from"); an offer `to`
"recorder" is answered by the server's recording peer (recording.py). The server sends
"welcome" (the side, the state, the ICE servers), "peer-joined", "peer-left", "ended" and
"answer" (from the recorder).

A socket is closed, and nothing else affected, with one of CLOSE's codes: a refusal before the
call (no token, not a party, a side already taken) or a bad message (too large, malformed, too
many). Every admitted join and every leave is recorded and announced (the audit ledger).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from fastapi import WebSocket
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocketDisconnect, WebSocketState

from services.consultation.domain import REVIEWER_ROLES, Side
from services.consultation.usecases import consultations
from shared.auth import Principal, decode_token
from shared.errors import ApiError, Conflict, Forbidden, NotFound
from shared.reference.windows import window_locality

log = logging.getLogger(__name__)
PATH = "/v1/consultations/{consultation_id}/signal"

# Close codes (4000-4999 are the application's, RFC 6455 7.4.2), with the reason sent.
CLOSE = {
    "token_required": 4401,
    "invalid_token": 4401,
    "not_a_party": 4403,
    "consultation_not_found": 4404,
    "consultation_ended": 4409,
    "side_taken": 4409,
    "malformed_message": 4400,
    "message_too_large": 4413,
    "rate_limited": 4429,
}
TYPES = {"offer", "answer", "candidate", "hangup"}
TARGETS = {"peer", "recorder"}


class Refused(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class Bucket:
    """A token bucket: `rate` messages a second, `burst` at once."""

    rate: float
    burst: int
    tokens: float = 0.0
    at: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        self.tokens = float(self.burst)

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


@dataclass
class Party:
    socket: WebSocket
    principal: Principal
    side: Side


@dataclass
class Room:
    consultation_id: str
    parties: dict[str, Party] = field(default_factory=dict)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


def _token(socket: WebSocket) -> str | None:
    """The bearer token (the pages' cookie becomes one in pages.CookieBearer, from the
    service's own pages only)."""
    header = socket.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip() or None
    return None


async def _principal(socket: WebSocket) -> Principal:
    settings = socket.app.state.settings
    token = _token(socket)
    if token is None:
        raise Refused("token_required")
    try:
        principal = await decode_token(settings, token)
    except ApiError as error:
        raise Refused("invalid_token") from error
    if principal.role == "window_clerk":
        if window_locality(principal.window_id or "", settings.windows_file) != principal.locality:
            raise Refused("not_a_party")
    elif principal.role not in REVIEWER_ROLES:
        raise Refused("not_a_party")
    return principal


def parse(raw: str | bytes | None, limit: int) -> dict[str, Any]:
    """One signalling message, or Refused (too large, malformed)."""
    if raw is None:
        raise Refused("malformed_message")
    if len(raw.encode() if isinstance(raw, str) else raw) > limit:
        raise Refused("message_too_large")
    try:
        message = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as error:
        raise Refused("malformed_message") from error
    if not isinstance(message, dict) or message.get("type") not in TYPES:
        raise Refused("malformed_message")
    kind = message["type"]
    if kind in ("offer", "answer") and not isinstance(message.get("sdp"), str):
        raise Refused("malformed_message")
    if kind == "candidate" and not isinstance(message.get("candidate"), dict | None):
        raise Refused("malformed_message")
    if kind != "hangup" and message.get("to", "peer") not in TARGETS:
        raise Refused("malformed_message")
    if kind != "offer" and message.get("to") == "recorder":
        raise Refused("malformed_message")
    return message


async def _close(socket: WebSocket, reason: str) -> None:
    if socket.application_state == WebSocketState.CONNECTED:
        with contextlib.suppress(Exception):
            await socket.close(CLOSE.get(reason, 1000), reason)


async def _send(socket: WebSocket, message: dict[str, Any]) -> None:
    with contextlib.suppress(Exception):
        await socket.send_text(json.dumps(message))


async def signal(socket: WebSocket) -> None:
    consultation_id: str = socket.path_params["consultation_id"]
    await socket.accept()
    calls = socket.app.state.calls
    try:
        principal = await _principal(socket)
        party, room = await calls.admit(socket, principal, consultation_id)
    except Refused as refusal:
        await _close(socket, refusal.reason)
        return
    settings = socket.app.state.settings
    bucket = Bucket(settings.consultation_messages_per_second, settings.consultation_message_burst)
    reason = "closed"
    try:
        while True:
            received = await socket.receive()
            if received["type"] == "websocket.disconnect":
                break
            if not bucket.take():
                raise Refused("rate_limited")
            message = parse(
                received.get("text") or received.get("bytes"),
                settings.consultation_max_message_bytes,
            )
            if message["type"] == "hangup":
                reason = "hangup"
                break
            await calls.route(room, party, message)
    except Refused as refusal:
        reason = refusal.reason
        await _close(socket, reason)
    except WebSocketDisconnect:
        pass
    finally:
        await calls.depart(room, party, reason)


# A Starlette route, not an API route: the service's app-wide gate (shared.authz.authorize)
# reads HTTP requests; the socket checks the same token and rule itself (_principal, join).
ROUTE = WebSocketRoute(PATH, signal)


class Calls:
    """The calls of this process: a room per consultation with its parties' sockets and its
    recorder. (One process serves the signalling: see contracts/video.md.)"""

    def __init__(self, app_state: Any) -> None:
        self.state = app_state
        self.rooms: dict[str, Room] = {}

    async def admit(
        self, socket: WebSocket, principal: Principal, consultation_id: str
    ) -> tuple[Party, Room]:
        room = self.rooms.setdefault(consultation_id, Room(consultation_id))
        try:
            return await self._admit(room, socket, principal, consultation_id)
        except Refused:
            if not room.parties:
                self.rooms.pop(consultation_id, None)
            raise

    async def _admit(
        self, room: Room, socket: WebSocket, principal: Principal, consultation_id: str
    ) -> tuple[Party, Room]:
        async with room.lock:
            runtime = self.state.runtime
            try:
                async with runtime.db.transaction() as session:
                    row, side = await consultations.join(
                        session, runtime.outbox, principal, consultation_id, set(room.parties)
                    )
            except Forbidden as error:
                raise Refused("not_a_party") from error
            except NotFound as error:
                raise Refused("consultation_not_found") from error
            except Conflict as error:
                raise Refused(error.code) from error
            party = Party(socket, principal, side)
            room.parties[side] = party
            others = [p for p in room.parties.values() if p is not party]
        await _send(
            socket,
            {
                "type": "welcome",
                "side": side,
                "state": row.state,
                "peer_present": bool(others),
                "ice_servers": self.state.ice_servers,
                "record": self.state.recordings.factory is not None,
            },
        )
        for other in others:
            await _send(other.socket, {"type": "peer-joined", "side": side, "state": row.state})
        return party, room

    async def route(self, room: Room, party: Party, message: dict[str, Any]) -> None:
        if message.get("to") == "recorder":
            recorder = self.state.recordings.recorder_for(room.consultation_id)
            if recorder is not None:
                sdp = await recorder.answer(party.side, message["sdp"])
                await _send(party.socket, {"type": "answer", "sdp": sdp, "from": "recorder"})
            return
        for other in list(room.parties.values()):
            if other is not party:
                await _send(other.socket, {**message, "from": party.side})

    async def hang_up(self, consultation_id: str) -> None:
        """The call was ended through the REST API: its parties are told and closed (each
        socket's handler then records its leave)."""
        room = self.rooms.get(consultation_id)
        for party in list(room.parties.values()) if room else []:
            await _send(party.socket, {"type": "ended"})
            await _close(party.socket, "ended")

    async def depart(self, room: Room, party: Party, reason: str) -> None:
        runtime = self.state.runtime
        async with room.lock:
            if room.parties.get(party.side) is party:
                del room.parties[party.side]
            async with runtime.db.transaction() as session:
                row = await consultations.leave(
                    session,
                    runtime.outbox,
                    party.principal,
                    room.consultation_id,
                    party.side,
                    reason,
                )
            ended = row.state == "ended"
            others = list(room.parties.values())
        for other in others:
            await _send(other.socket, {"type": "ended" if ended else "peer-left"})
            if ended:
                await _close(other.socket, "ended")
        await _close(party.socket, "ended")
        if ended:
            self.rooms.pop(room.consultation_id, None)
            self.state.recordings.finish(room.consultation_id)
