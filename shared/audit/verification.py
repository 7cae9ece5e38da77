"""The audit ledger verified: the chain as stored held to every checkpoint routing published,
recomputed from its start, from a published checkpoint or from where a verification before
stopped. Routing's `GET /v1/audit/verify` and `tongban audit verify` run this same code.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from shared.audit import ledger
from shared.audit.checkpoints import signed_by_routing
from shared.audit.entries import LedgerRow, check_entries
from shared.audit.macs import EntryMacs
from shared.crypto.keyring import KeyRing
from shared.errors import NotFound


@dataclass(frozen=True)
class CheckpointCheck:
    """The latest checkpoint published: its signature (routing's, or it would not count), and
    whether the chain as stored has its head."""

    seq: int
    hash: str
    at: datetime
    signer: str
    signature_ok: bool
    head_matches: bool


@dataclass(frozen=True)
class LedgerVerification:
    ok: bool
    verdict: ledger.Verdict
    from_seq: int
    checkpoint: CheckpointCheck | None
    problem: str | None
    # How many published checkpoints the chain was held to.
    checkpoints_published: int = 0
    verified_at: datetime | None = None


async def verify_ledger(
    session: AsyncSession,
    ring: KeyRing,
    published: ledger.PublishedCheckpoints,
    *,
    from_seq: int | None = None,
    since: ledger.Anchor | None = None,
    progress: Callable[[int], None] | None = None,
    batch: int = 1000,
    macs: EntryMacs | None = None,
) -> LedgerVerification:
    """Hold the chain as stored to every checkpoint routing ever `published` (read from the
    retained topic, not from routing's tables), then recompute it from its first entry, from the
    published checkpoint at `from_seq`, or from a position verified before (`since`), checking
    each published checkpoint (and the signature of each entry of format 1) on the way. The
    hashing and the SM2 checks run in a worker thread, so a long verification never stalls the
    event loop.

    It fails when two published checkpoints disagree (the ledger was rewritten), when the chain
    ends before the latest checkpoint or is empty after checkpoints were published (entries cut
    or wiped), when entries before `since` were removed or the one at `since` or at the latest
    checkpoint before it changed, and at the first bad entry after the start. `progress(n)` is
    told of each batch of n entries checked. Routing, which holds its MAC key (`macs`), also
    checks each entry's MAC (ledger.ChainVerifier); third parties hold it to the checkpoints."""
    published = published.snapshot()
    anchor = ledger.GENESIS
    if from_seq is not None:
        start = published.by_seq.get(from_seq)
        if start is None:
            raise NotFound(
                "checkpoint_not_found", f"No published checkpoint of the ledger at {from_seq}."
            )
        anchor = ledger.Anchor(start.seq, start.hash)
    elif since is not None:
        anchor = since
    stored_head = int(await session.scalar(select(func.max(LedgerRow.seq))) or 0)
    latest = published.latest
    looked_up = await _stored_hashes(
        session, {anchor.seq} | ({latest.seq} if latest else set()) | _below(published, anchor)
    )
    check = None
    if latest is not None:
        check = CheckpointCheck(
            seq=latest.seq,
            hash=latest.hash,
            at=latest.at,
            signer=latest.signer,
            signature_ok=True,
            head_matches=looked_up.get(latest.seq) == latest.hash,
        )

    def outcome(verdict: ledger.Verdict) -> LedgerVerification:
        return LedgerVerification(
            ok=verdict.ok,
            verdict=verdict,
            from_seq=anchor.seq,
            checkpoint=check,
            problem=verdict.problem,
            checkpoints_published=len(published),
        )

    finding = ledger.rewritten(published) or ledger.cut_short(stored_head, published)
    if finding is None:
        finding = await _held_before(session, anchor, published, looked_up, stored_head)
    if finding is not None:
        head = anchor if anchor.seq < finding.first_bad_seq else ledger.GENESIS
        return outcome(ledger.Verdict(False, 0, finding.first_bad_seq, head, finding.problem))

    def entry_signed(sealed: ledger.Sealed) -> bool:
        # Asked of entries of format 1 only (those that carry a signature of their own).
        if sealed.signer is None or sealed.signature is None:
            return False
        statement = ledger.head_statement(sealed.seq, sealed.hash, sealed.entry.at)
        return signed_by_routing(ring, statement, sealed.signer, sealed.signature, sealed.entry.at)

    verifier = ledger.ChainVerifier(
        anchor, published.hashes(after=anchor.seq), entry_signed, macs=macs
    )
    return outcome(await check_entries(session, verifier, progress=progress, batch=batch))


def _below(published: ledger.PublishedCheckpoints, anchor: ledger.Anchor) -> set[int]:
    """The latest published checkpoint at or before the anchor, if any (as a set of its seq)."""
    before = published.hashes(upto=anchor.seq)
    return {max(before)} if before else set()


async def _stored_hashes(session: AsyncSession, seqs: set[int]) -> dict[int, str]:
    wanted = [seq for seq in seqs if seq > 0]
    if not wanted:
        return {}
    query = select(LedgerRow.seq, LedgerRow.hash).where(LedgerRow.seq.in_(wanted))
    return {seq: hash_ for seq, hash_ in (await session.execute(query)).tuples()}


async def _held_before(
    session: AsyncSession,
    anchor: ledger.Anchor,
    published: ledger.PublishedCheckpoints,
    stored: dict[int, str],
    stored_head: int,
) -> ledger.Finding | None:
    """What the start of a verification that does not begin at the genesis takes on trust is
    still there: every entry up to the anchor (counted), the anchor's hash, and the latest
    published checkpoint at or before it. A rewrite that re-hashed earlier entries changes both
    hashes; one that did not breaks the chain, which a full verification finds."""
    if anchor.seq == 0:
        return None
    if anchor.seq > stored_head:
        return ledger.Finding(
            stored_head + 1,
            f"entries {stored_head + 1}–{anchor.seq} missing: the chain ends at {stored_head}, "
            "but they were verified before",
        )
    count_query = select(func.count()).select_from(LedgerRow).where(LedgerRow.seq <= anchor.seq)
    count = int(await session.scalar(count_query) or 0)
    if count < anchor.seq:
        first_missing = await session.scalar(
            text(
                "SELECT s FROM generate_series(1, :upto) AS s "
                "WHERE NOT EXISTS (SELECT 1 FROM ledger WHERE seq = s) ORDER BY s LIMIT 1"
            ),
            {"upto": anchor.seq},
        )
        return ledger.removed_since_verified(anchor.seq, anchor.seq - count, int(first_missing))
    held = [published.by_seq[seq] for seq in _below(published, anchor)]
    finding = ledger.disagreement(stored, held)
    if finding is None and stored.get(anchor.seq) != anchor.hash:
        finding = ledger.Finding(anchor.seq, f"entry {anchor.seq} changed since it was verified")
    return finding
