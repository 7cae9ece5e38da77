from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.sql.base import Executable
from sqlalchemy.sql.elements import ClauseElement


class Database:
    """A service's own PostgreSQL database: the engine and a unit-of-work factory."""

    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url = url
        # No pre-ping: it costs a round trip on every checkout, i.e. on every request and every
        # consumed record. After a database restart the first statement on a stale connection
        # fails instead; SQLAlchemy then invalidates the whole pool, the consumer runner waits
        # the outage out, and an HTTP client gets one 500 it may retry (POSTs are idempotent).
        # A fixed pool: overflow connections are opened under load and closed as soon as they
        # come back, and a new PostgreSQL connection (a forked backend) costs more than the
        # wait for a pooled one.
        # hide_parameters: a statement that fails is logged and raised without its values (they
        # may be personal data).
        self.engine: AsyncEngine = create_async_engine(
            url, pool_size=pool_size, max_overflow=0, pool_recycle=1800, hide_parameters=True
        )
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """One unit of work: everything inside commits together or not at all."""
        async with self.sessions() as session, session.begin():
            yield session

    async def execute_atomically(
        self, statement: Executable, parameters: Mapping[str, Any] | None = None
    ) -> None:
        """Run ONE statement on its own, outside any explicit transaction: PostgreSQL makes a
        single statement atomic by itself, so a write that fits in one (data-modifying CTEs)
        costs one round trip instead of BEGIN, the statements and COMMIT."""
        async with self.engine.connect() as connection:
            autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
            await autocommit.execute(statement, parameters)

    async def ping(self) -> None:
        async with self.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()


async def insert_if_absent(session: AsyncSession, model: Any, **values: Any) -> bool:
    """Insert a row unless one with the same key exists; True if this call inserted it.

    Consumers use it so that the same fact arriving twice (under two event ids, which the inbox
    cannot catch) has one effect, and only the first arrival announces it.
    """
    table = model.__table__
    if any(isinstance(value, ClauseElement) for value in values.values()):
        statement = insert(table).values(**values).on_conflict_do_nothing()
        inserted = await session.execute(statement.returning(*table.primary_key))
        return inserted.first() is not None
    # The table's (Core) statement, built once, the values its parameters: the ORM's bulk
    # insert path and a statement built per call were a tenth of a consumer's CPU per record.
    built = _INSERTS_IF_ABSENT.get(table)
    if built is None:
        built = insert(table).on_conflict_do_nothing().returning(*table.primary_key)
        _INSERTS_IF_ABSENT[table] = built
    inserted = await session.execute(built, values)
    return inserted.first() is not None


_INSERTS_IF_ABSENT: dict[Any, Executable] = {}


async def upsert(session: AsyncSession, model: Any, **values: Any) -> None:
    """Insert the row, or overwrite the one with the same primary key."""
    keys = [column.name for column in model.__table__.primary_key]
    await session.execute(
        insert(model).values(**values).on_conflict_do_update(index_elements=keys, set_=values)
    )
