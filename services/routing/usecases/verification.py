"""The audit ledger verified over HTTP and in the background: going on from where the last
verification stopped (shared.audit.verification does the checking), and the verdict stored."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.routing.db import LedgerVerificationRow
from services.routing.usecases.ledger import entry_macs
from shared import clock
from shared.audit import ledger
from shared.audit.verification import LedgerVerification, verify_ledger
from shared.crypto.keyring import KeyRing


async def verify(
    session: AsyncSession,
    ring: KeyRing,
    published: ledger.PublishedCheckpoints,
    *,
    from_seq: int | None = None,
    full: bool = False,
) -> LedgerVerification:
    """A verification asked for over HTTP: from the published checkpoint at `from_seq` (nothing
    is stored), or else going on from where the last one stopped (from the start if `full`),
    its verdict stored. Routing checks its entries' MACs too (it holds the key)."""
    if from_seq is not None:
        macs = entry_macs(ring)
        return await verify_ledger(session, ring, published, from_seq=from_seq, macs=macs)
    return await verify_incrementally(session, ring, published, full=full)


# The one row of `ledger_verification`.
VERIFICATION_ROW = 1


async def verify_incrementally(
    session: AsyncSession,
    ring: KeyRing,
    published: ledger.PublishedCheckpoints,
    *,
    full: bool = False,
) -> LedgerVerification:
    """Verify the entries appended since the last verification (all of them if `full`), store
    the position reached and the verdict, and return it. The state row is locked for the
    verification: processes that verify at once take turns instead of doing the work twice."""
    await session.execute(
        insert(LedgerVerificationRow)
        .values(id=VERIFICATION_ROW, position_seq=0, position_hash=ledger.GENESIS_HASH)
        .on_conflict_do_nothing()
    )
    state = await session.scalar(
        select(LedgerVerificationRow)
        .where(LedgerVerificationRow.id == VERIFICATION_ROW)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    assert state is not None
    since = None if full else ledger.Anchor(state.position_seq, state.position_hash)
    result = await verify_ledger(session, ring, published, since=since, macs=entry_macs(ring))
    if result.ok:
        state.position_seq, state.position_hash = result.verdict.head.seq, result.verdict.head.hash
    result = replace(result, verified_at=clock.now())
    state.verified_at = result.verified_at
    state.result = verification_summary(result)
    return result


async def last_verification(session: AsyncSession) -> dict[str, Any] | None:
    """The verdict of the last verification as it was answered, without verifying again."""
    state = await session.get(LedgerVerificationRow, VERIFICATION_ROW)
    return state.result if state is not None else None


def verification_summary(result: LedgerVerification) -> dict[str, Any]:
    """The verdict as `GET /v1/audit/verify` answers it (API.md)."""
    check = result.checkpoint
    return {
        "ok": result.ok,
        "checked": result.verdict.checked,
        "first_bad_seq": result.verdict.first_bad_seq,
        "from_seq": result.from_seq,
        "head_seq": result.verdict.head.seq,
        "head_hash": result.verdict.head.hash,
        "problem": result.problem,
        "checkpoint": None
        if check is None
        else {
            "seq": check.seq,
            "hash": check.hash,
            "at": ledger.timestamp(check.at),
            "signer": check.signer,
            "signature_ok": check.signature_ok,
            "head_matches": check.head_matches,
        },
        "checkpoints_published": result.checkpoints_published,
        "verified_at": ledger.timestamp(result.verified_at) if result.verified_at else None,
    }
