"""A request offering an HTTP/2 upgrade (what Java's default HttpClient sends on http://) is
answered as the HTTP/1.1 request it also is, body included: over a raw socket to a real
uvicorn server with the services' protocol (shared.http_server)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from fastapi import FastAPI
from pydantic import BaseModel

from tests.harness import serve

H2C_OFFER = (
    b"Connection: Upgrade, HTTP2-Settings\r\n"
    b"Upgrade: h2c\r\n"
    b"HTTP2-Settings: AAEAAEAAAAIAAAABAAMAAABkAAQBAAAAAAUAAEAA\r\n"
)
BODY = '{"name": "张晓明", "count": 3}'.encode()


class Greeting(BaseModel):
    name: str
    count: int


def echo_app() -> FastAPI:
    app = FastAPI()

    @app.post("/echo")
    async def echo(greeting: Greeting) -> dict[str, str | int]:
        return {"name": greeting.name, "count": greeting.count}

    @app.get("/ping")
    async def ping() -> dict[str, str]:
        return {"pong": "yes"}

    return app


@pytest.fixture
async def port() -> AsyncIterator[int]:
    # The tests' stack serves every service this way (tests.harness.serve, HTTP_PROTOCOL).
    running = await serve("echo", lambda _port: echo_app())
    yield int(running.base_url.rsplit(":", 1)[1])
    await running.stop()


def post(body_framing: bytes, *, offer: bytes = H2C_OFFER) -> bytes:
    return (
        b"POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        + offer
        + body_framing
    )


def content_length() -> bytes:
    return b"Content-Length: %d\r\n\r\n" % len(BODY) + BODY


def chunked() -> bytes:
    half = len(BODY) // 2
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in (BODY[:half], BODY[half:]))
    return b"Transfer-Encoding: chunked\r\n\r\n" + chunks + b"0\r\n\r\n"


async def exchange(port: int, *parts: bytes, responses: int = 1) -> list[bytes]:
    """Send `parts` (each its own write, a moment apart), read `responses` whole responses."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for part in parts:
            writer.write(part)
            await writer.drain()
            await asyncio.sleep(0.05)
        answers = []
        for _ in range(responses):
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            length = next(
                int(line.split(b":")[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            )
            answers.append(head + await asyncio.wait_for(reader.readexactly(length), 5))
        return answers
    finally:
        writer.close()


EXPECTED = b'{"name":"\xe5\xbc\xa0\xe6\x99\x93\xe6\x98\x8e","count":3}'


@pytest.mark.parametrize("framing", [content_length, chunked], ids=["content-length", "chunked"])
async def test_a_post_offering_h2c_is_answered_in_http_1_1_with_its_body(
    port: int, framing: object
) -> None:
    assert callable(framing)
    (answer,) = await exchange(port, post(framing()))
    assert answer.startswith(b"HTTP/1.1 200 ")
    assert answer.endswith(EXPECTED)


async def test_the_body_may_come_after_the_head_in_another_packet(port: int) -> None:
    request = post(content_length())
    head_end = request.index(b"\r\n\r\n") + 4
    (answer,) = await exchange(port, request[:head_end], request[head_end:])
    assert answer.startswith(b"HTTP/1.1 200 ")
    assert answer.endswith(EXPECTED)


async def test_the_connection_keeps_serving_requests_after_one_offering_h2c(port: int) -> None:
    follow_up = b"GET /ping HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    answers = await exchange(port, post(content_length()) + follow_up, post(chunked()), responses=3)
    assert [a.split(b"\r\n")[0] for a in answers] == [b"HTTP/1.1 200 OK"] * 3
    assert answers[0].endswith(EXPECTED)
    assert answers[1].endswith(b'{"pong":"yes"}')
    assert answers[2].endswith(EXPECTED)


async def test_a_post_without_an_offer_is_unchanged(port: int) -> None:
    (answer,) = await exchange(port, post(content_length(), offer=b""))
    assert answer.startswith(b"HTTP/1.1 200 ")
    assert answer.endswith(EXPECTED)
