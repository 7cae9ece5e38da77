"""The use-case tier: each service's use cases called directly against the real PostgreSQL (the
launcher's, without Kafka or HTTP), each test inside one transaction rolled back at its end.

Each test gets a connection with an open transaction; the session a use case receives is bound
to it and turns its own commits into SAVEPOINTs (SQLAlchemy's "joining a session into an
external transaction"), so whatever a test writes, and whatever order tests run in, nothing is
left behind. The outbox is real (its rows land in the same transaction), scans are a temp
folder's, the clock and catalog are the real ones."""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, create_async_engine
from sqlalchemy.sql import Executable

from shared.crypto.keyring import KeyRing
from shared.crypto.personal import PersonalData
from shared.db import Database
from shared.db.messaging_tables import outbox as outbox_table
from shared.db.migrations import upgrade
from shared.messaging.outbox import Outbox
from shared.settings import with_database
from shared.telemetry import Telemetry
from tooling.infra import ensure_databases

USECASE_DATABASES = {
    "intake": "tongban_usecases_intake",
    "approval": "tongban_usecases_approval",
    "delivery": "tongban_usecases_delivery",
    "routing": "tongban_usecases_routing",
}
DIGEST_KEY = b"usecase-digest-key"


@pytest.fixture(scope="session")
def database_urls(database_server: str) -> dict[str, str]:
    """Each service's database, created afresh and migrated to head once per session."""
    ensure_databases(database_server, list(USECASE_DATABASES.values()), recreate=True)
    urls = {}
    for service, name in USECASE_DATABASES.items():
        urls[service] = with_database(database_server, name)
        upgrade(service, urls[service])
    return urls


@pytest.fixture(scope="session")
def key_ring() -> Iterator[KeyRing]:
    with tempfile.TemporaryDirectory() as folder:
        yield KeyRing(folder, "usecase-tests", development=True)


def outbox_of(service: str, ring: KeyRing) -> Outbox:
    personal = PersonalData(ring, service=service, create_missing_recipients=True)
    return Outbox(f"/tongban/{service}", personal=personal)


@pytest.fixture(scope="session")
def telemetry() -> Telemetry:
    provider = TracerProvider()
    return Telemetry(service="usecases", provider=provider, tracer=provider.get_tracer("tests"))


@asynccontextmanager
async def rolled_back(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A connection whose one transaction is rolled back however the test ends."""
    async with engine.connect() as connection:
        transaction = await connection.begin()
        try:
            yield connection
        finally:
            await transaction.rollback()


def joined_session(connection: AsyncConnection) -> AsyncSession:
    """A session inside the test's transaction: its commits are SAVEPOINTs released in it."""
    return AsyncSession(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    )


class JoinedDatabase(Database):
    """The service's Database as the few use cases that open their own units of work see it,
    but every unit of work a SAVEPOINT in the test's transaction. The engine stays the real one
    for what is outside transactions anyway (sequences)."""

    def __init__(self, engine: AsyncEngine, connection: AsyncConnection) -> None:
        self.url = str(engine.url)
        self.engine = engine
        self.connection = connection

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        async with joined_session(self.connection) as session, session.begin():
            yield session

    async def execute_atomically(
        self, statement: Executable, parameters: Mapping[str, Any] | None = None
    ) -> None:
        # Atomic on its own in production; here a savepoint gives the same all-or-nothing.
        async with self.connection.begin_nested():
            await self.connection.execute(statement, parameters)


class Unit:
    """One test's view of a service: its database in the test's transaction, its outbox, and
    what was written to the outbox."""

    def __init__(self, engine: AsyncEngine, connection: AsyncConnection, outbox: Outbox) -> None:
        self.db = JoinedDatabase(engine, connection)
        self.connection = connection
        self.outbox = outbox

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """One unit of work, as the request's or the consumed record's transaction would be."""
        async with self.db.transaction() as session:
            yield session

    async def events(self, subject: str | None = None) -> list[tuple[str, str]]:
        """(event type, topic) of the outbox rows written so far, oldest first."""
        query = select(outbox_table.c.event_type, outbox_table.c.topic).order_by(outbox_table.c.seq)
        if subject is not None:
            query = query.where(outbox_table.c.subject == subject)
        return [(row.event_type, row.topic) for row in await self.connection.execute(query)]

    async def event_types(self, subject: str | None = None) -> list[str]:
        return [event_type for event_type, _ in await self.events(subject)]


@pytest.fixture(scope="session")
async def engines(database_urls: dict[str, str]) -> AsyncIterator[dict[str, AsyncEngine]]:
    made = {service: create_async_engine(url) for service, url in database_urls.items()}
    yield made
    for engine in made.values():
        await engine.dispose()


async def _unit(service: str, engines: dict[str, AsyncEngine], ring: KeyRing) -> Any:
    async with rolled_back(engines[service]) as connection:
        yield Unit(engines[service], connection, outbox_of(service, ring))
    # Nothing a test wrote outlives it: had a use case committed outside the test's
    # transaction, its events would still be here.
    async with engines[service].connect() as connection:
        left = await connection.scalar(select(func.count()).select_from(outbox_table))
    assert left == 0, f"{left} outbox rows of {service} outlived their test"


@pytest.fixture
async def intake(engines: dict[str, AsyncEngine], key_ring: KeyRing) -> AsyncIterator[Unit]:
    async for unit in _unit("intake", engines, key_ring):
        yield unit


@pytest.fixture
async def approval(engines: dict[str, AsyncEngine], key_ring: KeyRing) -> AsyncIterator[Unit]:
    async for unit in _unit("approval", engines, key_ring):
        yield unit


@pytest.fixture
async def delivery(engines: dict[str, AsyncEngine], key_ring: KeyRing) -> AsyncIterator[Unit]:
    async for unit in _unit("delivery", engines, key_ring):
        yield unit


@pytest.fixture
async def routing(engines: dict[str, AsyncEngine], key_ring: KeyRing) -> AsyncIterator[Unit]:
    async for unit in _unit("routing", engines, key_ring):
        yield unit
