"""A 视频会商 call between two Python WebRTC peers (aiortc), as the tests make one: each side
sends a synthetic video track to the other and to the server's recorder, through the signalling
endpoint; the clerk offers, the reviewer answers."""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass
from typing import Any

from aiortc import RTCPeerConnection, RTCSessionDescription, VideoStreamTrack
from aiortc.mediastreams import MediaStreamError
from websockets.asyncio.client import ClientConnection

from tests.consultation import receive
from tooling.journey import poll_until


class Frames:
    """Frames a peer received from the other (the call's video, not the recorder's)."""

    def __init__(self) -> None:
        self.count = 0
        self.size: tuple[int, int] | None = None
        self.task: asyncio.Task[None] | None = None

    def read(self, track: Any) -> None:
        async def pull() -> None:
            with contextlib.suppress(MediaStreamError):
                while True:
                    frame = await track.recv()
                    self.count += 1
                    self.size = (frame.width, frame.height)

        self.task = asyncio.ensure_future(pull())


async def party(socket: Any, frames: Frames) -> tuple[RTCPeerConnection, RTCPeerConnection]:
    """One side's two peer connections: to the other party, and to the server's recorder."""
    call = RTCPeerConnection()
    call.addTrack(VideoStreamTrack())

    @call.on("track")
    def on_track(track: Any) -> None:
        frames.read(track)

    recorder = RTCPeerConnection()
    recorder.addTrack(VideoStreamTrack())
    await recorder.setLocalDescription(await recorder.createOffer())
    await socket.send(
        json.dumps({"type": "offer", "to": "recorder", "sdp": recorder.localDescription.sdp})
    )
    return call, recorder


async def connected(*peers: RTCPeerConnection) -> bool | None:
    return True if all(peer.connectionState == "connected" for peer in peers) else None


async def both_see(clerk: Frames, reviewer: Frames) -> bool | None:
    return True if clerk.count > 10 and reviewer.count > 10 else None


@dataclass
class Call:
    """Both sides in the call, seeing each other, and both recorded by the server."""

    clerk: ClientConnection
    reviewer: ClientConnection
    clerk_frames: Frames
    reviewer_frames: Frames
    peers: tuple[RTCPeerConnection, ...]

    async def close(self) -> None:
        for peer in self.peers:
            await peer.close()


async def call(clerk: ClientConnection, reviewer: ClientConnection) -> Call:
    """The media of a call whose two sockets are in (both welcomed): offers and answers through
    the server, until each side sees the other's video and the recorder has both."""
    clerk_frames, reviewer_frames = Frames(), Frames()
    clerk_call, clerk_recorder = await party(clerk, clerk_frames)
    reviewer_call, reviewer_recorder = await party(reviewer, reviewer_frames)
    # The clerk offers; the reviewer answers, both through the server.
    await clerk_call.setLocalDescription(await clerk_call.createOffer())
    await clerk.send(
        json.dumps({"type": "offer", "to": "peer", "sdp": clerk_call.localDescription.sdp})
    )
    offer = await receive(reviewer, "offer")
    assert offer["from"] == "clerk"
    await reviewer_call.setRemoteDescription(RTCSessionDescription(offer["sdp"], "offer"))
    await reviewer_call.setLocalDescription(await reviewer_call.createAnswer())
    await reviewer.send(
        json.dumps({"type": "answer", "to": "peer", "sdp": reviewer_call.localDescription.sdp})
    )
    # Each side gets the recorder's answer and the other's (in whichever order they come).
    clerk_answers = [await receive(clerk, "answer"), await receive(clerk, "answer")]
    for answer in clerk_answers:
        target = clerk_recorder if answer["from"] == "recorder" else clerk_call
        await target.setRemoteDescription(RTCSessionDescription(answer["sdp"], "answer"))
    answer = await receive(reviewer, "answer")
    assert answer["from"] == "recorder"
    await reviewer_recorder.setRemoteDescription(RTCSessionDescription(answer["sdp"], "answer"))

    await poll_until(
        lambda: both_see(clerk_frames, reviewer_frames), within=20, failure="no video either way"
    )
    # The recorder's legs too (the recording starts once both parties' video reaches it).
    await poll_until(
        lambda: connected(clerk_recorder, reviewer_recorder),
        within=20,
        failure="the recorder is not connected",
    )
    peers = (clerk_call, clerk_recorder, reviewer_call, reviewer_recorder)
    return Call(clerk, reviewer, clerk_frames, reviewer_frames, peers)
