"""The consultation service in the tests' stack, and what its tests share: a fixture that serves
it as its own Kafka principal with its own database, tokens of its parties, and a signalling
client (websockets)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import websockets
from websockets.asyncio.client import ClientConnection

from services.consultation.main import create_app as create_consultation
from shared.db.migrations import upgrade_async
from shared.settings import with_database
from tests.harness import Stack
from tooling.infra import Infrastructure, ensure_databases

DATABASE = "tongban_test_consultation"
# A 阜阳 window asks 合肥 (the competent locality of a 合肥-registered resident's 户口迁移); its
# sample scans are uploaded (tests/conftest.py), so it can hand in a real application.
WINDOW = ("W341200-02", "341200")
OTHER_WINDOW = ("W341200-01", "341200")
HEFEI = "340100"
WUHU = "340200"


@pytest.fixture(scope="module")
async def consultation(stack: Stack, infrastructure: Infrastructure) -> AsyncIterator[str]:
    """The consultation service's base URL (its own database, recreated for the module)."""
    database = with_database(stack.settings.database_url, DATABASE)
    await asyncio.to_thread(
        ensure_databases, stack.settings.database_url, [DATABASE], recreate=True
    )
    await upgrade_async("consultation", database)
    settings = stack.settings.model_copy(
        update={
            **infrastructure.kafka_settings("consultation"),
            "consultation_database_url": database,
            "routing_url": stack.services["routing"].base_url,
        }
    )
    await stack.start("consultation", lambda _: create_consultation(settings))
    yield stack.services["consultation"].base_url
    await stack.stop_service("consultation")


def clerk_token(stack: Stack, window: tuple[str, str] = WINDOW, sub: str = "clerk-fy-02") -> str:
    return stack.token("window_clerk", window[1], window_id=window[0], sub=sub)


def reviewer_token(stack: Stack, locality: str = HEFEI, sub: str = "approver-hf-01") -> str:
    return stack.token("approver", locality, sub=sub)


async def open_consultation(
    stack: Stack, application_no: str, topic: str = "户口簿复印件是否可用"
) -> dict[str, Any]:
    async with stack.client("consultation", clerk_token(stack)) as http:
        response = await http.post(
            "/v1/consultations",
            json={
                "item_code": "GA-HJ-001",
                "locality": HEFEI,
                "topic": topic,
                "application_no": application_no,
            },
        )
    assert response.status_code == 201, response.text
    opened: dict[str, Any] = response.json()
    return opened


async def connect(base_url: str, path: str, token: str | None) -> ClientConnection:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    url = base_url.replace("http://", "ws://") + path
    return await websockets.connect(url, additional_headers=headers, max_size=2**22)


_held: dict[int, list[dict[str, Any]]] = {}


async def receive(socket: ClientConnection, kind: str, within: float = 15) -> dict[str, Any]:
    """The first message of type `kind` not taken yet (others are kept for a later call)."""
    held = _held.setdefault(id(socket), [])
    for message in held:
        if message["type"] == kind:
            held.remove(message)
            return message
    async with asyncio.timeout(within):
        while True:
            message = json.loads(await socket.recv())
            if message["type"] == kind:
                return message
            held.append(message)


async def close_code(socket: ClientConnection, within: float = 10) -> tuple[int | None, str]:
    """How the server closed the socket (code, reason)."""
    async with asyncio.timeout(within):
        try:
            while True:
                await socket.recv()
        except websockets.ConnectionClosed as closed:
            received = closed.rcvd
            return (received.code, received.reason) if received else (None, "")
