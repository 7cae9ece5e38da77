"""A minimal HTTP/1.1 keep-alive load generator, cheap enough not to be the bottleneck.

httpx spends far more CPU per request than a small FastAPI endpoint does, and on a 2-core
machine the generator shares the cores with the servers it measures. This one writes
pre-encoded requests on an asyncio.Protocol and parses only the status line and
Content-Length of the answers: tens of microseconds per request. The benchmark prints the rate
it reaches against a trivial endpoint, so readers know the ceiling.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import statistics
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

TIMEOUT = -1  # Sample.status of a request that got no answer in time
TRANSPORT_ERROR = 0  # Sample.status of a request whose connection failed


class ProtocolError(ConnectionError):
    """An answer this client does not read (no Content-Length, e.g. chunked)."""


class HttpConnection(asyncio.Protocol):
    """One keep-alive connection; one request in flight at a time."""

    def __init__(self) -> None:
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self._lost = False

    @classmethod
    async def open(cls, host: str, port: int) -> HttpConnection:
        _, protocol = await asyncio.get_running_loop().create_connection(cls, host, port)
        return protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        waiter = self._waiter
        if waiter is None or waiter.done():
            return
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(self._buffer[:end]).lower()
        marker = head.find(b"\r\ncontent-length:")
        if marker < 0:
            waiter.set_exception(ProtocolError("answer without Content-Length"))
            self.close()
            return
        stop = head.find(b"\r\n", marker + 2)
        length = int(head[marker + 17 : stop if stop > 0 else len(head)])
        total = end + 4 + length
        if len(self._buffer) < total:
            return
        body = bytes(self._buffer[end + 4 : total])
        del self._buffer[:total]
        self._waiter = None
        waiter.set_result((int(head[9:12]), body))
        if b"\r\nconnection: close" in head:
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = True
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(ConnectionError(f"connection lost: {exc}"))

    def close(self) -> None:
        self._lost = True
        if self._transport is not None:
            self._transport.close()

    async def request(self, data: bytes, answer_within: float) -> tuple[int, bytes]:
        """(status, body) of the answer to the raw request `data`."""
        if self._lost or self._transport is None:
            raise ConnectionError("connection closed")
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[tuple[int, bytes]] = loop.create_future()
        self._waiter = waiter
        self._transport.write(data)
        expiry = loop.call_later(answer_within, _expire, waiter)
        try:
            return await waiter
        finally:
            expiry.cancel()


def _expire(waiter: asyncio.Future[tuple[int, bytes]]) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError())


@dataclass(frozen=True)
class Target:
    """An endpoint to load; `make_request` gives the raw bytes of the next request."""

    name: str
    host: str
    ports: Sequence[int]
    make_request: Callable[[], bytes]


def get_request(path: str, host: str, port: int) -> Callable[[], bytes]:
    data = f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode()
    return lambda: data


def post_requests(
    path: str, host: str, port: int, bodies: Sequence[bytes], headers: dict[str, str]
) -> Callable[[], bytes]:
    """POSTs of `bodies` in turn, each with a fresh Idempotency-Key."""
    extra = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    prefixes = [
        (
            f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\n{extra}"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            "Idempotency-Key: "
        ).encode()
        for body in bodies
    ]
    turns = itertools.cycle(list(zip(prefixes, bodies, strict=True)))

    def make() -> bytes:
        prefix, body = next(turns)
        return b"".join((prefix, uuid.uuid4().hex.encode(), b"\r\n\r\n", body))

    return make


@dataclass(frozen=True, slots=True)
class Sample:
    started: float  # time.perf_counter()
    latency: float  # seconds
    status: int  # HTTP status, TIMEOUT or TRANSPORT_ERROR


@dataclass
class LoadResult:
    label: str
    target: str
    connections: int
    elapsed: float
    samples: list[Sample]
    # Bodies of the answers with `expected` status, read after the round (not on its clock).
    bodies: list[bytes] = field(default_factory=list)
    expected: int = 201

    @property
    def ok(self) -> list[Sample]:
        return [s for s in self.samples if s.status == self.expected]

    @property
    def rate(self) -> float:
        return len(self.ok) / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def timeouts(self) -> int:
        return sum(1 for s in self.samples if s.status == TIMEOUT)

    @property
    def errors(self) -> int:
        return sum(1 for s in self.samples if s.status not in (self.expected, TIMEOUT))

    def latency_ms(self, share: float) -> float:
        return percentile([s.latency * 1000 for s in self.ok], share)


def percentile(values: Sequence[float], share: float) -> float:
    if not values:
        return float("nan")
    if share == 0.5:
        return statistics.median(values)
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def _open_all(target: Target, connections: int) -> list[HttpConnection]:
    ports = itertools.cycle(target.ports)
    return list(
        await asyncio.gather(
            *(HttpConnection.open(target.host, next(ports)) for _ in range(connections))
        )
    )


async def saturate(
    target: Target,
    *,
    label: str,
    connections: int,
    duration: float,
    expected: int = 201,
    answer_within: float = 10.0,
    keep_bodies: bool = False,
    tick: Callable[[], None] | None = None,
) -> LoadResult:
    """Every connection sends its next request as soon as the previous answer arrives, for
    `duration` seconds (connections spread over target.ports in turn)."""
    pool = await _open_all(target, connections)
    ports = itertools.cycle(target.ports)
    samples: list[Sample] = []
    bodies: list[bytes] = []
    clock = time.perf_counter
    began = clock()
    deadline = began + duration
    last = began

    async def worker(index: int) -> None:
        nonlocal last
        connection = pool[index]
        while True:
            started = clock()
            if started >= deadline:
                return
            try:
                status, body = await connection.request(target.make_request(), answer_within)
            except TimeoutError:
                status, body = TIMEOUT, b""
            except (ConnectionError, OSError):
                status, body = TRANSPORT_ERROR, b""
            finished = clock()
            last = max(last, finished)
            samples.append(Sample(started, finished - started, status))
            if status == expected:
                if keep_bodies:
                    bodies.append(body)
            elif status in (TIMEOUT, TRANSPORT_ERROR):
                connection.close()
                try:
                    connection = pool[index] = await HttpConnection.open(target.host, next(ports))
                except OSError:
                    await asyncio.sleep(0.1)
            if tick is not None:
                tick()

    try:
        await asyncio.gather(*(worker(i) for i in range(connections)))
    finally:
        for connection in pool:
            connection.close()
    return LoadResult(label, target.name, connections, last - began, samples, bodies, expected)


async def paced(
    target: Target,
    *,
    label: str,
    rate: float,
    count: int,
    connections: int = 4,
    expected: int = 201,
    answer_within: float = 10.0,
    keep_bodies: bool = False,
    tick: Callable[[], None] | None = None,
) -> LoadResult:
    """`count` requests at `rate` per second, each at its own time whether or not earlier
    ones were answered (open loop), on whichever of `connections` connections is free. A
    request's latency counts from its scheduled time, so a stall shows in every request that
    waited for it rather than thinning the load."""
    idle: asyncio.Queue[HttpConnection] = asyncio.Queue()
    for connection in await _open_all(target, connections):
        idle.put_nowait(connection)
    samples: list[Sample] = []
    bodies: list[bytes] = []
    clock = time.perf_counter

    async def one(due: float) -> None:
        connection = await idle.get()
        try:
            status, body = await connection.request(target.make_request(), answer_within)
        except TimeoutError:
            status, body = TIMEOUT, b""
        except (ConnectionError, OSError):
            status, body = TRANSPORT_ERROR, b""
        samples.append(Sample(due, clock() - due, status))
        if status == expected and keep_bodies:
            bodies.append(body)  # in the order of the answered samples
        if status in (TIMEOUT, TRANSPORT_ERROR):
            connection.close()
            with contextlib.suppress(OSError):
                connection = await HttpConnection.open(target.host, target.ports[0])
        idle.put_nowait(connection)
        if tick is not None:
            tick()

    began = clock()
    requests: list[asyncio.Task[None]] = []
    try:
        for number in range(count):
            due = began + number / rate
            await asyncio.sleep(max(0.0, due - clock()))
            requests.append(asyncio.create_task(one(due)))
        await asyncio.gather(*requests)
    finally:
        while not idle.empty():
            idle.get_nowait().close()
    return LoadResult(label, target.name, connections, clock() - began, samples, bodies, expected)


@dataclass
class Sequential:
    """One connection per target, one request at a time across all of them."""

    targets: Sequence[Target]
    results: dict[str, LoadResult] = field(default_factory=dict)

    async def run(
        self,
        requests_each: int,
        *,
        label: str,
        expected: int = 201,
        answer_within: float = 10.0,
        pause: float = 0.0,
        keep_bodies: bool = False,
        tick: Callable[[], None] | None = None,
    ) -> dict[str, LoadResult]:
        """`requests_each` requests per target, alternating target by target so that both
        see the same moments of a noisy machine."""
        pool = {t.name: await HttpConnection.open(t.host, t.ports[0]) for t in self.targets}
        samples: dict[str, list[Sample]] = {t.name: [] for t in self.targets}
        bodies: dict[str, list[bytes]] = {t.name: [] for t in self.targets}
        began = time.perf_counter()
        try:
            for _ in range(requests_each):
                for target in self.targets:
                    started = time.perf_counter()
                    try:
                        status, body = await pool[target.name].request(
                            target.make_request(), answer_within
                        )
                    except TimeoutError:
                        status, body = TIMEOUT, b""
                    except (ConnectionError, OSError):
                        status, body = TRANSPORT_ERROR, b""
                    samples[target.name].append(
                        Sample(started, time.perf_counter() - started, status)
                    )
                    if status in (TIMEOUT, TRANSPORT_ERROR):
                        pool[target.name].close()
                        pool[target.name] = await HttpConnection.open(target.host, target.ports[0])
                    elif status == expected and keep_bodies:
                        bodies[target.name].append(body)
                    if tick is not None:
                        tick()
                    if pause:
                        await asyncio.sleep(pause)
        finally:
            for connection in pool.values():
                connection.close()
        elapsed = time.perf_counter() - began
        self.results = {
            name: LoadResult(label, name, 1, elapsed, samples[name], bodies[name], expected)
            for name in samples
        }
        return self.results
