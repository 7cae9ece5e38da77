"""CPU time of this process and of every process it started (with their descendants), read
from /proc: where the cores went during a round. Linux only; elsewhere it reports nothing."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
PROC = Path("/proc")


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, user+system CPU seconds) of a live process."""
    try:
        raw = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may hold spaces: split after it.
    fields = raw[raw.rfind(")") + 2 :].split()
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / TICKS


def _cmdline(pid: int) -> str:
    try:
        return (PROC / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _guess(command: str) -> str:
    if "java" in command and "kafka" in command.lower():
        return "kafka"
    if "postgres" in command:
        return "postgresql"
    for service in ("intake", "routing", "approval", "delivery"):
        if f"serve {service}" in command:
            return service
    return command.split(" ")[0].rsplit("/", 1)[-1] or "?"


MACHINE = "whole machine"
OUTSIDE = "outside this run"


@dataclass(frozen=True)
class CpuSnapshot:
    """CPU seconds per label; `wall` is time.perf_counter() when taken; `machine` the busy
    CPU seconds of all cores since boot (/proc/stat)."""

    wall: float
    seconds: dict[str, float]
    machine: float = 0.0


def _machine_busy() -> float:
    try:
        line = (PROC / "stat").read_text().split("\n", 1)[0]
    except OSError:
        return 0.0
    # cpu  user nice system idle iowait irq softirq steal ...
    values = [int(v) for v in line.split()[1:9]]
    return (sum(values) - values[3] - values[4]) / TICKS


def snapshot(wall: float, labels: Mapping[int, str]) -> CpuSnapshot:
    """CPU seconds used so far by this process ("benchmark") and by each child of it with its
    descendants, labelled by `labels` (pid → label) or else by its command line."""
    me = os.getpid()
    parents: dict[int, int] = {}
    used: dict[int, float] = {}
    if PROC.is_dir():
        for entry in PROC.iterdir():
            if not entry.name.isdigit():
                continue
            stat = _stat(int(entry.name))
            if stat is not None:
                parents[int(entry.name)], used[int(entry.name)] = stat
    totals: dict[str, float] = {"benchmark": used.get(me, 0.0)}
    for pid, cpu in used.items():
        # Walk up to the child of this process that this pid descends from.
        child, parent = pid, parents.get(pid)
        while parent is not None and parent != me and parent > 1:
            child, parent = parent, parents.get(parent)
        if parent != me:
            continue
        label = labels.get(child) or _guess(_cmdline(child))
        totals[label] = totals.get(label, 0.0) + cpu
    return CpuSnapshot(wall, totals, _machine_busy())


def usage(before: CpuSnapshot, after: CpuSnapshot) -> dict[str, float]:
    """Per label, the share of one core used between two snapshots (100 = one full core);
    also the whole machine's, and what of it this run's processes did not use."""
    span = after.wall - before.wall
    if span <= 0:
        return {}
    shares = {
        label: 100 * (seconds - before.seconds.get(label, 0.0)) / span
        for label, seconds in after.seconds.items()
    }
    if after.machine:
        machine = 100 * (after.machine - before.machine) / span
        shares[OUTSIDE] = max(0.0, machine - sum(shares.values()))
        shares[MACHINE] = machine
    return shares


def spent(before: CpuSnapshot, after: CpuSnapshot) -> dict[str, float]:
    """Per label, CPU seconds used between two snapshots."""
    return {
        label: seconds - before.seconds.get(label, 0.0) for label, seconds in after.seconds.items()
    }
