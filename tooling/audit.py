"""`tongban audit verify`: check routing's audit ledger (区块链信任机制) in its database.

Reads the `ledger` table of routing's database (ROUTING_DATABASE_URL, or DATABASE_URL with the
routing database) and holds it to every checkpoint routing ever published: those on the
retained `tongban.audit.checkpoints` topic (read from its beginning) and those `tongban audit
watch` stored in its own database, each counted only when routing's key signed it; never the
checkpoints routing keeps in its own tables. Then it recomputes the SM3 hash chain from the
first entry (or from a published checkpoint, `--from SEQ`) and checks the SM2 signature of every
entry of format 1 against the public keys of the trust list (TRUST_LIST); entries of format 2
are signed by the checkpoints only. The same code as routing's `GET /v1/audit/verify`
(shared.audit.verification.verify_ledger), without the service running. Exit code 0 when the
ledger is intact, 1 otherwise, with what is missing or wrong.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from sqlalchemy import func, select

from shared.audit import verification
from shared.audit.checkpoints import read_published
from shared.audit.entries import LedgerRow
from shared.audit.ledger import PublishedCheckpoints
from shared.db import Database
from shared.errors import DomainError
from shared.messaging.kafka import client_security
from shared.settings import Settings
from tooling.audit_watch import stored_checkpoints


async def count_entries(settings: Settings, *, after: int = 0) -> int:
    db = Database(settings.service_database_url("routing"), pool_size=1)
    try:
        async with db.transaction() as session:
            query = select(func.count()).select_from(LedgerRow).where(LedgerRow.seq > after)
            return int(await session.scalar(query) or 0)
    finally:
        await db.dispose()


async def published_checkpoints(settings: Settings) -> tuple[PublishedCheckpoints, str]:
    """Every checkpoint routing published, from the topic and from the watcher's store, and a
    line saying where they came from."""
    ring = settings.key_ring()
    published, refused = await read_published(
        ring,
        bootstrap_servers=settings.kafka_bootstrap_servers,
        security=client_security(settings),
    )
    on_topic = len(published)
    stored = await stored_checkpoints(settings)
    for checkpoint in stored or ():
        published.add(checkpoint)
    watcher = "no watcher's store" if stored is None else f"{len(stored)} in the watcher's store"
    note = f"{on_topic} published checkpoints on the topic, {watcher}"
    if refused:
        note += f"; {refused} on the topic not signed by routing (ignored)"
    return published, note


async def verify_database(
    settings: Settings,
    *,
    from_seq: int | None = None,
    progress: Callable[[int], None] | None = None,
    published: PublishedCheckpoints | None = None,
) -> verification.LedgerVerification:
    """Verify the whole ledger in routing's database (one read-only pass, in pages), held to
    the published checkpoints (read here unless given)."""
    if published is None:
        published, _ = await published_checkpoints(settings)
    db = Database(settings.service_database_url("routing"), pool_size=1)
    try:
        async with db.transaction() as session:
            return await verification.verify_ledger(
                session, settings.key_ring(), published, from_seq=from_seq, progress=progress
            )
    finally:
        await db.dispose()


def verify_command(settings: Settings, console: Console, *, from_seq: int | None = None) -> int:
    """Run the verification with a progress bar and print the verdict; the exit code."""
    published, note = asyncio.run(published_checkpoints(settings))
    console.print(f"  {note}")
    total = asyncio.run(count_entries(settings, after=from_seq or 0))
    columns = (
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("Verifying the audit ledger", total=total)
        try:
            result = asyncio.run(
                verify_database(
                    settings,
                    from_seq=from_seq,
                    progress=lambda done: bar.advance(task, done),
                    published=published,
                )
            )
        except DomainError as refused:
            console.print(f"[red]✗[/] {refused.message}")
            return 1
    verdict, check = result.verdict, result.checkpoint
    if check is not None:
        mark = "[green]✓[/]" if check.head_matches else "[red]✗[/]"
        console.print(
            f"{mark} latest published checkpoint: seq {check.seq} by {check.signer} "
            f"(head {'in the chain' if check.head_matches else 'NOT in the chain'})"
        )
    if result.ok:
        console.print(
            f"[green]✓ ok[/]: {verdict.checked} entries checked after seq {result.from_seq}; "
            f"head seq {verdict.head.seq}, hash {verdict.head.hash}"
        )
        return 0
    console.print(
        f"[red]✗ ledger broken[/]: first bad seq {verdict.first_bad_seq}: {result.problem}"
    )
    return 1
