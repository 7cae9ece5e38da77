"""Run a service's Alembic migrations programmatically.

Each service keeps its revisions in `services/<name>/migrations/`; their `env.py` calls
`run_alembic_env`, so the async plumbing lives here once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command, context, op
from alembic.config import Config
from sqlalchemy import MetaData, pool
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from shared.crypto.personal import PersonalData, place
from shared.db.messaging_tables import messaging_metadata

SERVICES_DIR = Path(__file__).resolve().parents[2] / "services"


def alembic_config(service: str, database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(SERVICES_DIR / service / "migrations"))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(service: str, database_url: str, revision: str = "head") -> None:
    """Bring the service's database to `revision`. Sync: call it outside a running event loop."""
    command.upgrade(alembic_config(service, database_url), revision)


async def upgrade_async(service: str, database_url: str, revision: str = "head") -> None:
    await asyncio.to_thread(upgrade, service, database_url, revision)


def run_alembic_env(service_metadata: MetaData) -> None:
    """Body of every service's migrations/env.py."""
    target_metadata = [service_metadata, messaging_metadata]
    url = context.config.get_main_option("sqlalchemy.url")
    assert url, "sqlalchemy.url is set by alembic_config()"

    if context.is_offline_mode():
        context.configure(url=url, target_metadata=target_metadata, literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
        return

    def run(connection: Connection) -> None:
        context.configure(connection=connection, target_metadata=target_metadata)
        with context.begin_transaction():
            context.run_migrations()

    async def run_async() -> None:
        engine = create_async_engine(url, poolclass=pool.NullPool, hide_parameters=True)
        async with engine.connect() as connection:
            await connection.run_sync(run)
        await engine.dispose()

    asyncio.run(run_async())


def create_messaging_tables() -> None:
    """Version 1 of the outbox and inbox tables, created by every service's first migration.

    Spelled out (not `metadata.create_all`) so that this revision stays what it was when the
    tables' model changes: a change gets a new revision in each service.
    """
    op.create_table(
        "inbox",
        sa.Column("consumer", sa.String(length=128), nullable=False),
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("event_type", sa.String(length=255), nullable=False),
        sa.Column(
            "processed_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("consumer", "event_id"),
    )
    op.create_table(
        "outbox",
        sa.Column("seq", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("topic", sa.String(length=255), nullable=False),
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("event_type", sa.String(length=255), nullable=False),
        sa.Column("source", sa.String(length=255), nullable=False),
        sa.Column("subject", sa.String(length=128), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("payload", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("traceparent", sa.String(length=64), nullable=True),
        sa.Column("tracestate", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("event_id"),
    )
    op.create_index(
        "ix_outbox_unsent",
        "outbox",
        ["seq"],
        unique=False,
        postgresql_where=sa.text("sent_at IS NULL"),
    )


def drop_messaging_tables() -> None:
    op.drop_index(
        "ix_outbox_unsent", table_name="outbox", postgresql_where=sa.text("sent_at IS NULL")
    )
    op.drop_table("outbox")
    op.drop_table("inbox")


def add_outbox_parking() -> None:
    """Version 2 of the outbox, added by every service's second migration: a row the broker
    refuses for good is parked (`parked_at`, `park_reason`) instead of holding back every row
    after it, and the relay's index leaves parked rows out.

    The columns are nullable without a default: a change of the catalogue only, instant whatever
    the table's size. The indexes are built CONCURRENTLY, outside the migration's transaction:
    nothing pruned the outbox before this version, and a plain CREATE INDEX would block every
    write of the service (they all write the outbox) for as long as it scans the table.
    """
    # IF NOT EXISTS: the columns are committed before the index builds, so a rerun after an
    # interrupted build finds them.
    parked_at = sa.Column("parked_at", sa.DateTime(timezone=True), nullable=True)
    op.add_column("outbox", parked_at, if_not_exists=True)
    op.add_column("outbox", sa.Column("park_reason", sa.Text(), nullable=True), if_not_exists=True)
    with op.get_context().autocommit_block():
        _build_outbox_index("ix_outbox_parked", "parked_at IS NOT NULL")
        _swap_unsent_index("sent_at IS NULL AND parked_at IS NULL")


def drop_outbox_parking() -> None:
    """Back to version 1 of the outbox. Parked rows count as unsent again, and a version-1 relay
    stops at the first of them for good: requeue or delete them before downgrading."""
    with op.get_context().autocommit_block():
        _swap_unsent_index("sent_at IS NULL")
        op.drop_index("ix_outbox_parked", table_name="outbox", postgresql_concurrently=True)
    op.drop_column("outbox", "park_reason")
    op.drop_column("outbox", "parked_at")


def _swap_unsent_index(predicate: str) -> None:
    # Built beside the old one, then renamed: the relay's query always has an index to use.
    _build_outbox_index("ix_outbox_unsent_next", predicate)
    op.drop_index(
        "ix_outbox_unsent", table_name="outbox", postgresql_concurrently=True, if_exists=True
    )
    op.execute("ALTER INDEX ix_outbox_unsent_next RENAME TO ix_outbox_unsent")


def _build_outbox_index(name: str, predicate: str) -> None:
    # An interrupted concurrent build leaves an invalid index of that name behind: a rerun drops
    # it first (IF NOT EXISTS would keep it, invalid).
    op.drop_index(name, table_name="outbox", postgresql_concurrently=True, if_exists=True)
    op.create_index(
        name,
        "outbox",
        ["seq"],
        unique=False,
        postgresql_where=sa.text(predicate),
        postgresql_concurrently=True,
    )


# --- personal data at rest (shared.crypto.personal) -----------------------------------------


class LazyPersonalData:
    """The key ring of the migration's environment (KEY_RING_DIR, KEY_RING_SECRET: the same as
    the service's), opened only when a row needs it: an empty database migrates without one."""

    def __init__(self) -> None:
        self._personal: PersonalData | None = None

    def __call__(self) -> PersonalData:
        if self._personal is None:
            from shared.settings import get_settings

            self._personal = PersonalData(get_settings().key_ring())
        return self._personal


def rewrite_rows(
    table: str,
    key: str,
    columns: Mapping[str, sa.types.TypeEngine[Any]],
    rewrite: Callable[[str, dict[str, Any]], dict[str, Any]],
) -> None:
    """Replace `columns` of every row of `table` with what `rewrite(key value, old values)`
    gives (a data migration, in the migration's transaction; row by row, as it runs in Python)."""
    target = sa.table(
        table, sa.column(key), *(sa.column(name, kind) for name, kind in columns.items())
    )
    bind = op.get_bind()
    rows = bind.execute(sa.select(target.c[key], *(target.c[name] for name in columns))).all()
    for row in rows:
        values = rewrite(row[0], dict(zip(columns, row[1:], strict=True)))
        if values:
            bind.execute(sa.update(target).where(target.c[key] == row[0]).values(values))


def rewrite_document_fields(
    table: str, key: str, column: str, where: str, personal: LazyPersonalData, *, seal: bool
) -> None:
    """Seal (or open again) the personal fields of the JSON document in `column` of every row
    of `table`, each bound to `place(where, <key value>)` as the service binds it."""

    def rewrite(number: str, old: dict[str, Any]) -> dict[str, Any]:
        document = old[column]
        if document is None:
            return {}
        cipher, bound = personal(), place(where, number)
        if seal:
            return {column: cipher.seal_fields(document, where=bound)}
        return {column: cipher.open_fields(document, where=bound)}

    rewrite_rows(table, key, {column: sa.JSON()}, rewrite)


def seal_outbox_payloads(personal: LazyPersonalData) -> None:
    """Encrypt the payloads of the outbox rows written in clear (sent ones are kept a while)."""
    from shared.messaging.outbox import seal_payload

    def seal(event_id: str, old: dict[str, Any]) -> dict[str, Any]:
        if set(old["payload"]) == {"encrypted"}:
            return {}
        return {"payload": seal_payload(old["payload"], event_id, personal())}

    rewrite_rows("outbox", "event_id", {"payload": postgresql.JSONB()}, seal)


def open_outbox_payloads(personal: LazyPersonalData) -> None:
    """The payloads in clear again (a downgrade to a version that cannot read them)."""
    from shared.messaging.outbox import open_payload

    def open_(event_id: str, old: dict[str, Any]) -> dict[str, Any]:
        if set(old["payload"]) != {"encrypted"}:
            return {}
        return {"payload": open_payload(old["payload"], event_id, personal())}

    rewrite_rows("outbox", "event_id", {"payload": postgresql.JSONB()}, open_)
