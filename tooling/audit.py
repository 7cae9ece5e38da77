"""`tongban audit verify`: check routing's audit ledger (区块链信任机制) in its database.

Reads the `ledger` and `ledger_checkpoints` tables of routing's database (ROUTING_DATABASE_URL,
or DATABASE_URL with the routing database), recomputes the SM3 hash chain from the first entry
(or from a signed checkpoint, `--from SEQ`), and checks every entry's and every checkpoint's SM2
signature against the public keys of the trust list (TRUST_LIST). The same
code as routing's `GET /v1/audit/verify` (services.routing.service.verify_ledger), without the
service running. Exit code 0 when the ledger is intact, 1 otherwise.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from sqlalchemy import func, select

from services.routing import service
from services.routing.db import LedgerRow
from shared.db import Database
from shared.errors import DomainError
from shared.settings import Settings


async def count_entries(settings: Settings, *, after: int = 0) -> int:
    db = Database(settings.service_database_url("routing"), pool_size=1)
    try:
        async with db.transaction() as session:
            query = select(func.count()).select_from(LedgerRow).where(LedgerRow.seq > after)
            return int(await session.scalar(query) or 0)
    finally:
        await db.dispose()


async def verify_database(
    settings: Settings,
    *,
    from_seq: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> service.LedgerVerification:
    """Verify the ledger in routing's database (one read-only pass, in pages)."""
    db = Database(settings.service_database_url("routing"), pool_size=1)
    try:
        async with db.transaction() as session:
            return await service.verify_ledger(
                session, settings.key_ring(), from_seq=from_seq, progress=progress
            )
    finally:
        await db.dispose()


def verify_command(settings: Settings, console: Console, *, from_seq: int | None = None) -> int:
    """Run the verification with a progress bar and print the verdict; the exit code."""
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
                )
            )
        except DomainError as refused:
            console.print(f"[red]✗[/] {refused.message}")
            return 1
    verdict, check = result.verdict, result.checkpoint
    if check is not None:
        mark = "[green]✓[/]" if check.signature_ok and check.head_matches else "[red]✗[/]"
        console.print(
            f"{mark} latest checkpoint: seq {check.seq} by {check.signer} "
            f"(signature {'ok' if check.signature_ok else 'BAD'}, "
            f"head {'in the chain' if check.head_matches else 'NOT in the chain'})"
        )
    if result.ok:
        console.print(
            f"[green]✓ ok[/]: {verdict.checked} entries checked after seq {result.from_seq}; "
            f"head seq {verdict.head.seq}, hash {verdict.head.hash}"
        )
        return 0
    where = f"first bad seq {verdict.first_bad_seq}" if verdict.first_bad_seq else "checkpoints"
    console.print(f"[red]✗ ledger broken[/]: {where}: {result.problem}")
    return 1
