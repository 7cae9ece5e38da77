"""What `make soak` samples every few seconds: the memory of each process of the stack (from
/proc) and the rows of every service database's outbox and inbox."""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from tooling.infra import ManagedProcess

PROC = Path("/proc")
PAGE_KB = 4


def _children() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for stat in PROC.glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    return children


def _tree(pid: int, children: dict[int, list[int]]) -> list[int]:
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, ()))
    return found


def _kilobytes(pid: int, field_name: str, path: str) -> int:
    """A `Name:   1234 kB` line of /proc/<pid>/status or smaps_rollup; 0 when gone."""
    with contextlib.suppress(OSError):
        for line in (PROC / str(pid) / path).read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    return 0


@dataclass(frozen=True)
class Memory:
    rss_mb: float  # the process itself (VmRSS)
    tree_mb: float  # it and its children (PostgreSQL's backends): proportional set size, summed
    members: int = 1  # processes in its tree
    # The tree's PSS without shared memory (Pss - Pss_Shmem): PostgreSQL's shared buffers are a
    # fixed segment (shared_buffers, 128 MB) that fills as pages are first read, a cache up to a
    # configured cap, not growth; what its processes hold of their own is what may leak.
    own_mb: float = 0.0

    @property
    def judged_mb(self) -> float:
        """RSS for a lone process; over a process tree, its PSS without shared memory, where RSS
        would count the shared buffers once per backend and PSS would count them filling. (A
        lone process's PSS moves with other processes mapping the same libraries, e.g. other
        Pythons of the same virtualenv: not its own growth.)"""
        if self.members > 1:
            return self.own_mb or self.tree_mb
        return self.rss_mb


def memory(processes: dict[str, ManagedProcess]) -> dict[str, Memory]:
    """Each process by name: its RSS and its tree's PSS (a process group's shared pages, such as
    PostgreSQL's shared buffers, counted once across its members)."""
    children = _children()
    sampled: dict[str, Memory] = {}
    for name, process in processes.items():
        if process.popen is None or not process.alive():
            continue
        pid = process.popen.pid
        tree = _tree(pid, children)
        pss = [_kilobytes(p, "Pss", "smaps_rollup") for p in tree]
        sampled[name] = Memory(
            rss_mb=_kilobytes(pid, "VmRSS", "status") / 1024,
            tree_mb=sum(pss) / 1024,
            members=len(tree),
            own_mb=(sum(pss) - sum(_kilobytes(p, "Pss_Shmem", "smaps_rollup") for p in tree))
            / 1024,
        )
    return sampled


@dataclass
class MessagingCounts:
    """Rows of outbox (sent / waiting) and inbox, summed over the service databases."""

    urls: dict[str, str]
    _engines: dict[str, AsyncEngine] = field(default_factory=dict)

    async def count(self) -> dict[str, int]:
        totals = {"outbox_sent": 0, "outbox_waiting": 0, "inbox": 0}
        for name, url in self.urls.items():
            engine = self._engines.get(name)
            if engine is None:
                engine = self._engines[name] = create_async_engine(url, pool_size=1)
            with contextlib.suppress(Exception):  # a database restarting: next sample
                async with engine.connect() as connection:
                    row = (
                        await connection.execute(
                            text(
                                "SELECT (SELECT count(*) FROM outbox WHERE sent_at IS NOT NULL),"
                                " (SELECT count(*) FROM outbox WHERE sent_at IS NULL),"
                                " (SELECT count(*) FROM inbox)"
                            )
                        )
                    ).one()
                    totals["outbox_sent"] += int(row[0])
                    totals["outbox_waiting"] += int(row[1])
                    totals["inbox"] += int(row[2])
        return totals

    async def close(self) -> None:
        for engine in self._engines.values():
            await engine.dispose()


@dataclass
class Sample:
    at: float  # seconds since the soak began
    memory: dict[str, Memory]
    messaging: dict[str, int]


def now_since(began: float) -> float:
    return time.monotonic() - began
