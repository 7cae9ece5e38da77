"""全过程记录: the server is a WebRTC peer of each party (aiortc) and records what each sends.

Each party's page sends its camera to this peer too (beside the call itself, which goes from
page to page); the frames of both are encoded as they come into one WebM file (VP8, one video
stream per party, scaled to RECORD_WIDTH × RECORD_HEIGHT), on a temporary file until the call
ends. Then `finish` hands back the bytes with their SM3 digest and the media's duration.

A party's offer to this peer comes complete with its ICE candidates (the page waits for
gathering to end), and the answer goes back the same way: no trickle ICE on this leg.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import tempfile
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamError

from shared.crypto.sm import sm3

log = logging.getLogger(__name__)

# Every party's video is scaled to this size: the file's header (written with its first packet)
# fixes each stream's size before the other party's first frame may have arrived.
RECORD_WIDTH, RECORD_HEIGHT = 320, 240
RECORD_RATE = 15
# Once one party's video arrives, how long to wait for the other's before recording starts
# (a stream cannot be added to a file once its header is written).
WAIT_FOR_BOTH_SECONDS = 4.0
TIME_BASE = Fraction(1, 1000)


@dataclass(frozen=True)
class Recording:
    data: bytes
    sm3: str
    duration_seconds: int


class CallRecorder:
    def __init__(self, ice_servers: list[RTCIceServer]) -> None:
        self.configuration = RTCConfiguration(iceServers=ice_servers or [])
        self.peers: dict[str, RTCPeerConnection] = {}
        self.tracks: dict[str, MediaStreamTrack] = {}
        self.directory = tempfile.TemporaryDirectory(prefix="tongban-call-")
        self.path = Path(self.directory.name) / "call.webm"
        self.container: av.container.OutputContainer | None = None
        self.tasks: list[asyncio.Task[None]] = []
        self.drains: list[asyncio.Task[None]] = []
        self.last_ms: dict[str, int] = {}
        self.started = False
        self._start_later: asyncio.TimerHandle | None = None

    async def answer(self, side: str, offer_sdp: str) -> str:
        """The answer to a party's offer (a second offer from the same side replaces its peer)."""
        old = self.peers.pop(side, None)
        if old is not None:
            await old.close()
        peer = RTCPeerConnection(self.configuration)
        self.peers[side] = peer

        @peer.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            if track.kind == "video" and side not in self.tracks and not self.started:
                self.tracks[side] = track
                self._maybe_start()
            else:  # audio, or too late for the file: read and dropped, never left to pile up
                self.drains.append(asyncio.ensure_future(_drain(track)))

        await peer.setRemoteDescription(RTCSessionDescription(offer_sdp, "offer"))
        await peer.setLocalDescription(await peer.createAnswer())
        return peer.localDescription.sdp

    def _maybe_start(self) -> None:
        if len(self.tracks) >= 2:
            self._start()
        elif self._start_later is None:
            loop = asyncio.get_running_loop()
            self._start_later = loop.call_later(WAIT_FOR_BOTH_SECONDS, self._start)

    def _start(self) -> None:
        if self.started or not self.tracks:
            return
        self.started = True
        if self._start_later is not None:
            self._start_later.cancel()
        self.container = av.open(str(self.path), mode="w", format="webm")
        for side in sorted(self.tracks):
            stream = self.container.add_stream("libvpx", rate=RECORD_RATE)
            stream.pix_fmt = "yuv420p"
            stream.width, stream.height = RECORD_WIDTH, RECORD_HEIGHT
            stream.options = {"deadline": "realtime", "cpu-used": "8"}
            stream.bit_rate = 300_000
            stream.metadata["title"] = side
            recording = self._recorded(side, self.tracks[side], stream)
            self.tasks.append(asyncio.ensure_future(recording))

    async def _recorded(self, side: str, track: MediaStreamTrack, stream: av.VideoStream) -> None:
        """One party's video into the file; a failure is logged (the other's goes on)."""
        try:
            await self._record(side, track, stream)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("the %s side's video could not be recorded", side)

    async def _record(self, side: str, track: MediaStreamTrack, stream: av.VideoStream) -> None:
        assert self.container is not None
        first: float | None = None
        min_gap_ms = 1000 // RECORD_RATE
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            if not isinstance(frame, av.VideoFrame) or frame.pts is None:
                continue
            seconds = float(frame.pts * frame.time_base) if frame.time_base else time.time()
            if first is None:
                first = seconds
            ms = int((seconds - first) * 1000)
            if side in self.last_ms and ms - self.last_ms[side] < min_gap_ms:
                continue  # above the recording's frame rate
            scaled = frame.reformat(width=stream.width, height=stream.height, format="yuv420p")
            scaled.pts = ms
            scaled.time_base = TIME_BASE
            self.last_ms[side] = ms
            for packet in stream.encode(scaled):
                self.container.mux(packet)

    async def finish(self) -> Recording | None:
        """Stop, close the file; its bytes and digests, or None if nothing was recorded."""
        if self._start_later is not None:
            self._start_later.cancel()
        for task in self.tasks + self.drains:
            task.cancel()
        for task in self.tasks + self.drains:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for peer in self.peers.values():
            await peer.close()
        recording = None
        if self.container is not None:
            for stream in self.container.streams.video:
                if stream.codec_context.is_open:
                    for packet in stream.encode(None):
                        self.container.mux(packet)
            self.container.close()
            data = self.path.read_bytes()
            duration = max(self.last_ms.values(), default=0) / 1000
            recording = Recording(data, sm3(data).hex(), round(duration))
        self.directory.cleanup()
        return recording


async def _drain(track: MediaStreamTrack) -> None:
    with contextlib.suppress(MediaStreamError):
        while True:
            await track.recv()


def ice_servers(
    stun: list[str], turn: list[str], username: str | None, credential: str | None
) -> list[dict[str, object]]:
    """The ICE servers as a browser's RTCPeerConnection takes them (the province's coturn)."""
    servers: list[dict[str, object]] = []
    if stun:
        servers.append({"urls": stun})
    if turn:
        servers.append({"urls": turn, "username": username or "", "credential": credential or ""})
    return servers


def aiortc_servers(servers: list[dict[str, object]]) -> list[RTCIceServer]:
    return [
        RTCIceServer(
            urls=list(server["urls"]),  # type: ignore[call-overload]
            username=server.get("username"),  # type: ignore[arg-type]
            credential=server.get("credential"),  # type: ignore[arg-type]
        )
        for server in servers
    ]
