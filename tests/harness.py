"""The whole Tongban stack in one process, for tests: every service on a real uvicorn server
(real HTTP on loopback), all against the real Kafka broker and PostgreSQL of the launcher.

Running in-process lets one in-memory span exporter see every service's spans, so a test can
assert that one application's journey is one trace.
"""

from __future__ import annotations

import asyncio
import base64
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import httpx
import uvicorn
from aiokafka import AIOKafkaProducer, ConsumerRecord
from aiokafka.structs import RecordMetadata
from fastapi import FastAPI
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from shared.auth import Role, mint_token
from shared.db import Database
from shared.db.migrations import upgrade_async
from shared.http_server import HTTP_PROTOCOL
from shared.messaging.channels import channel_of
from shared.messaging.envelope import Envelope
from shared.messaging.events import EventPayload
from shared.messaging.kafka import client_security, make_consumer
from shared.messaging.signing import EventSigner, canonical_bytes
from shared.settings import Settings, with_database
from shared.sms import REPORT_PATH
from tooling.carrier_simulator.control import SimulatorControl, webhook_url_of
from tooling.infra import ensure_databases_async, free_ports
from tooling.journey import Journey, JourneyError, poll_until
from tooling.sms_gateway.control import SmsGatewayControl


@dataclass
class RunningService:
    name: str
    app: FastAPI
    server: uvicorn.Server
    task: asyncio.Task[None]
    base_url: str

    async def stop(self) -> None:
        self.server.should_exit = True
        await asyncio.wait_for(self.task, timeout=30)


async def serve(name: str, factory: Callable[[int], FastAPI]) -> RunningService:
    (port,) = free_ports(1)
    app = factory(port)
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", lifespan="on", http=HTTP_PROTOCOL
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(), name=f"uvicorn:{name}")
    for _ in range(600):
        if server.started:
            break
        if task.done():
            task.result()  # raises the start-up error
        await asyncio.sleep(0.05)
    else:
        raise RuntimeError(f"{name} did not start")
    return RunningService(name, app, server, task, f"http://127.0.0.1:{port}")


@dataclass
class Stack:
    settings: Settings
    spans: InMemorySpanExporter
    services: dict[str, RunningService] = field(default_factory=dict)
    factories: dict[str, Callable[[int], FastAPI]] = field(default_factory=dict)
    # The carrier simulator's process (邮政寄递), reporting to delivery's webhook.
    carrier: SimulatorControl | None = None
    # The SMS gateway simulator's process (短信): what was sent, failures on order.
    sms: SmsGatewayControl | None = None

    async def start(self, name: str, factory: Callable[[int], FastAPI] | None = None) -> None:
        """Serve one service (again, after `stop_service`)."""
        if factory is not None:
            self.factories[name] = factory
        self.services[name] = await serve(name, self.factories[name])
        if name == "delivery" and self.carrier is not None:
            # Delivery's port is chosen now (again at a restart): the carrier reports there.
            await self.carrier.set_webhook(
                webhook_url_of(self.services[name].base_url),
                token=self.token("carrier", self.settings.province, sub="carrier-simulator"),
            )
        if name == "portal" and self.sms is not None:
            # The portal's port is chosen now: the SMS gateway reports there.
            await self.sms.set_reports(f"{self.services[name].base_url}{REPORT_PATH}")

    def journey(self, window_id: str = "W341200-01", locality: str = "341200") -> Journey:
        """The reference journey through this stack's public APIs, from one window."""
        urls = {name: service.base_url for name, service in self.services.items()}
        return Journey(self.settings, urls, window_id=window_id, receiving_locality=locality)

    async def stop_service(self, name: str) -> None:
        """Stop one service the way an operator would (graceful: it finishes and commits)."""
        await self.services.pop(name).stop()

    def client(self, service: str, token: str | None = None) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.AsyncClient(
            base_url=self.services[service].base_url, headers=headers, timeout=15
        )

    def token(
        self, role: Role, locality: str, window_id: str | None = None, sub: str | None = None
    ) -> str:
        return mint_token(self.settings, role=role, locality=locality, window_id=window_id, sub=sub)

    async def publish(
        self, producer: AIOKafkaProducer, payload: EventPayload, topic: str
    ) -> tuple[Envelope, RecordMetadata]:
        """`payload` on `topic` as its rightful producer would put it there: from that
        service's source, signed with the key that may state it (a locality's seal for what
        approval states). The envelope, and where the record landed."""
        source = f"/tongban/{channel_of(topic).producer}"
        envelope = self.signed(Envelope.new(payload, source=source), topic)
        key, value, headers = envelope.to_kafka()
        sent = await producer.send_and_wait(topic, value=value, key=key, headers=headers)
        return envelope, sent

    def signed(self, envelope: Envelope, topic: str) -> Envelope:
        """`envelope` signed with the key that may state it on `topic` (this run's key ring),
        as its rightful producer would sign it."""
        return EventSigner(self.settings.key_ring()).sign(envelope, topic)

    def signed_with(self, envelope: Envelope, key: str) -> Envelope:
        """`envelope` signed with this run's key ring's key `key`, whatever its authority: how a
        test forges an event, or puts one where its signer may not."""
        signer = self.settings.key_ring().signer(key)
        signature = signer.sign(canonical_bytes(envelope))
        return envelope.signed(base64.b64encode(signature).decode(), signer.kid)

    async def put(self, producer: AIOKafkaProducer, topic: str, envelope: Envelope) -> Envelope:
        """`envelope` on `topic` exactly as it is (signed or not, by whomever)."""
        key, value, headers = envelope.to_kafka()
        await producer.send_and_wait(topic, value=value, key=key, headers=headers)
        return envelope

    async def stop(self) -> None:
        for service in reversed(list(self.services.values())):
            await service.stop()


async def eventually(check: Callable[[], Awaitable[object]], *, within: float = 30.0) -> object:
    """Ask again until `check` returns something truthy (events take a moment)."""

    async def look() -> object | None:
        return (await check()) or None

    try:
        return await poll_until(look, within=within, failure="condition not met")
    except JourneyError as exc:
        raise AssertionError(str(exc)) from exc


async def read_topic(
    kafka: Settings,
    topic: str,
    *,
    until: Callable[[list[ConsumerRecord[bytes, bytes]]], bool],
    within: float = 30.0,
) -> list[ConsumerRecord[bytes, bytes]]:
    """Read a topic from the start (own throwaway group, as the principal of `kafka`'s
    settings) until `until(records)` holds."""
    consumer = make_consumer(
        kafka.kafka_bootstrap_servers,
        [topic],
        group_id=f"test-reader-{uuid.uuid4().hex[:8]}",
        client_id="test-reader",
        security=client_security(kafka),
    )
    await consumer.start()
    records: list[ConsumerRecord[bytes, bytes]] = []
    try:
        deadline = asyncio.get_running_loop().time() + within
        while not until(records):
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(
                    f"{topic}: condition not met within {within}s ({len(records)} records)"
                )
            for batch in (await consumer.getmany(timeout_ms=300)).values():
                records.extend(batch)
    finally:
        await consumer.stop()
    return records


def header(record: ConsumerRecord[bytes, bytes], name: str) -> str | None:
    for key, value in record.headers or ():
        if key == name:
            return value.decode()
    return None


class CountingEvent(asyncio.Event):
    """An asyncio.Event that counts how often it was set (the outbox's wake-up of its relay)."""

    def __init__(self) -> None:
        super().__init__()
        self.sets = 0

    def set(self) -> None:
        self.sets += 1
        super().set()


@asynccontextmanager
async def messaging_database(
    server_url: str, name: str, schema: str = "delivery"
) -> AsyncIterator[Database]:
    """Database `name` made afresh on the test server with a service's schema (any service's
    has the outbox and inbox): for tests of the messaging machinery on tables of their own."""
    await ensure_databases_async(server_url, [name], recreate=True)
    url = with_database(server_url, name)
    await upgrade_async(schema, url)
    database = Database(url)
    try:
        yield database
    finally:
        await database.dispose()
