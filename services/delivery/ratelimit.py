"""The limit on public verification: who the client is, and a count every delivery process
shares.

The client is the peer address, unless the peer is one of TRUSTED_PROXIES (the ingress, a load
balancer): then it is the right-most address of `X-Forwarded-For` that is not a trusted proxy,
the one the outermost trusted proxy saw. Anything to the left of it was written by the client
itself and counts for nothing; an untrusted peer's `X-Forwarded-For` is ignored whole.

The count is `limits`' fixed window, over a storage in delivery's PostgreSQL database (one
upserted row per client and window), so N delivery processes behind a balancer let one client
through the limit once, not N times.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Sequence
from ipaddress import IPv4Network, IPv6Network, ip_address, ip_network

from limits import RateLimitItemPerMinute
from limits.aio.storage import MemoryStorage, Storage
from limits.aio.strategies import FixedWindowRateLimiter
from sqlalchemy import delete, func, select, text
from sqlalchemy.exc import SQLAlchemyError
from starlette.requests import Request

from services.delivery.db import RateLimitCounterRow
from shared.db import Database

Network = IPv4Network | IPv6Network


def trusted_networks(cidrs: Iterable[str]) -> tuple[Network, ...]:
    return tuple(ip_network(cidr, strict=False) for cidr in cidrs)


def client_address(request: Request, trusted: Sequence[Network]) -> str:
    """Who is asking: the peer, or, through trusted proxies, the address they were asked by."""
    peer = request.client.host if request.client else ""
    if not _within(peer, trusted):
        return peer or "unknown"
    forwarded = [
        hop.strip()
        for header in request.headers.getlist("x-forwarded-for")
        for hop in header.split(",")
        if hop.strip()
    ]
    for hop in reversed(forwarded):
        if not _within(hop, trusted):
            return hop[:64]  # as the trusted proxy wrote it
    # Only proxies on the way: the left-most is the one that was asked.
    return forwarded[0][:64] if forwarded else peer


def _within(address: str, trusted: Sequence[Network]) -> bool:
    try:
        parsed = ip_address(address)
    except ValueError:
        return False
    return any(parsed in network for network in trusted)


# One statement, atomic however many processes count the same key at once; a window that
# ended starts again with this hit.
_INCREMENT = text(
    """
    INSERT INTO rate_limit_counters AS counter (key, hits, expires_at)
    VALUES (:key, :amount, now() + make_interval(secs => :expiry))
    ON CONFLICT (key) DO UPDATE SET
        hits = CASE WHEN counter.expires_at <= now() THEN excluded.hits
                    ELSE counter.hits + excluded.hits END,
        expires_at = CASE WHEN counter.expires_at <= now() THEN excluded.expires_at
                          ELSE counter.expires_at END
    RETURNING hits
    """
)


class PostgresCounters(Storage):
    """A `limits` storage for fixed windows over delivery's database: each key one row, its
    hits and when its window ends, incremented with one upsert (atomic across processes) and
    timed by the database's clock (the processes' clocks need not agree)."""

    STORAGE_SCHEME = None

    def __init__(self, db: Database) -> None:
        super().__init__()
        self.db = db

    @property
    def base_exceptions(self) -> type[Exception] | tuple[type[Exception], ...]:
        return SQLAlchemyError

    async def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        async with self.db.transaction() as session:
            hits = await session.scalar(
                _INCREMENT, {"key": key, "amount": amount, "expiry": expiry}
            )
        return int(hits)

    async def get(self, key: str) -> int:
        async with self.db.sessions() as session:
            hits = await session.scalar(
                select(RateLimitCounterRow.hits).where(
                    RateLimitCounterRow.key == key, RateLimitCounterRow.expires_at > func.now()
                )
            )
        return int(hits or 0)

    async def get_expiry(self, key: str) -> float:
        async with self.db.sessions() as session:
            ends = await session.scalar(
                select(func.extract("epoch", RateLimitCounterRow.expires_at)).where(
                    RateLimitCounterRow.key == key
                )
            )
        return float(ends) if ends is not None else time.time()

    async def check(self) -> bool:
        try:
            await self.db.ping()
        except SQLAlchemyError:
            return False
        return True

    async def reset(self) -> int | None:
        async with self.db.transaction() as session:
            result = await session.execute(delete(RateLimitCounterRow))
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def clear(self, key: str) -> None:
        async with self.db.transaction() as session:
            await session.execute(delete(RateLimitCounterRow).where(RateLimitCounterRow.key == key))

    async def prune(self) -> None:
        """Forget windows that ended (run on a schedule)."""
        async with self.db.transaction() as session:
            await session.execute(
                delete(RateLimitCounterRow).where(RateLimitCounterRow.expires_at <= func.now())
            )


class VerificationLimiter:
    """Verifications per client address, VERIFY_RATE_LIMIT_PER_MINUTE in a fixed window of a
    minute, counted in `storage` (in memory, per process, unless given a shared one)."""

    def __init__(self, per_minute: int, storage: Storage | None = None) -> None:
        self.item = RateLimitItemPerMinute(per_minute)
        self.storage = storage or MemoryStorage()
        self.limiter = FixedWindowRateLimiter(self.storage)

    async def hit(self, client: str) -> int | None:
        """Count one verification from `client`: None if allowed, else the seconds to wait."""
        if await self.limiter.hit(self.item, "verify", client):
            return None
        stats = await self.limiter.get_window_stats(self.item, "verify", client)
        return max(1, math.ceil(stats.reset_time - time.time()))
