"""A window system whose HTTP client offers HTTP/2 in-band (`Upgrade: h2c`, as Java's default
HttpClient does on http://) hands in an application like any other: the service answers in
HTTP/1.1 with the body read. Raw bytes over a socket to intake's real server."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest

from tests import factories
from tests.harness import Stack
from tooling.journey import household_application

pytestmark = pytest.mark.integration


async def raw_post(
    base_url: str, path: str, headers: dict[str, str], body: bytes
) -> tuple[int, bytes]:
    host, port = base_url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        head = [f"POST {path} HTTP/1.1", f"Host: {host}:{port}"]
        head += [f"{name}: {value}" for name, value in headers.items()]
        head += [
            "Connection: Upgrade, HTTP2-Settings",
            "Upgrade: h2c",
            "HTTP2-Settings: AAEAAEAAAAIAAAABAAMAAABkAAQBAAAAAAUAAEAA",
            "Content-Type: application/json",
            f"Content-Length: {len(body)}",
        ]
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
        await writer.drain()
        status_and_headers = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 15)
        lines = status_and_headers.decode().split("\r\n")
        length = next(
            int(line.split(":")[1]) for line in lines if line.lower().startswith("content-length:")
        )
        assert lines[0].startswith("HTTP/1.1 ")  # no "101 Switching Protocols"
        return int(lines[0].split()[1]), await reader.readexactly(length)
    finally:
        writer.close()


async def test_an_application_posted_with_an_h2c_offer_is_accepted(stack: Stack) -> None:
    journey = stack.journey()
    await journey.upload_sample_scans()
    body = json.dumps(household_application(factories.applicant())).encode()
    status, answer = await raw_post(
        stack.services["intake"].base_url,
        "/v1/applications",
        {
            "Authorization": f"Bearer {journey.clerk_token}",
            "Idempotency-Key": str(uuid.uuid4()),
        },
        body,
    )
    assert status == 201, answer
    accepted = json.loads(answer)
    assert accepted["competent_locality"] == "340100"
    stored = await journey.application(accepted["application_no"])
    assert stored["item_code"] == "GA-HJ-001"
