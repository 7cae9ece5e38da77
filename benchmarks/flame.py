"""Flame graphs of the services: py-spy samples each service process from outside during a
round (non-blocking, so the services run at their own pace) and writes an SVG per service.

py-spy reads another process's memory, which needs ptrace rights (root, or CAP_SYS_PTRACE in
a container); without them each recording says so in one line and the benchmark goes on.
"""

from __future__ import annotations

import asyncio
import shutil
import sys
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

# Samples per second: py-spy's default, a few % of a core of its own per process sampled.
RATE = 100


def py_spy() -> str | None:
    """py-spy of this interpreter's environment, else the one on PATH."""
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


@dataclass
class FlameGraphs:
    """The SVG written for each service, or why there is none."""

    written: dict[str, Path] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)


def _why(stderr: str, code: int | None) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    text = next((line for line in lines if "rror" in line), lines[-1] if lines else "")
    if "ermission" in text or "ptrace" in text.lower():
        return f"py-spy may not read the process (needs root or CAP_SYS_PTRACE): {text}"
    return text or f"py-spy exited with {code}"


async def _record(binary: str, pid: int, seconds: float, path: Path) -> tuple[int | None, str]:
    """(exit status, stderr) of one py-spy recording of `pid` into `path`."""
    whole = max(1, round(seconds))
    process = await asyncio.create_subprocess_exec(
        *(binary, "record", "--pid", str(pid), "--format", "flamegraph"),
        *("--output", str(path), "--duration", str(whole), "--rate", str(RATE)),
        "--nonblocking",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        _, stderr = await asyncio.wait_for(process.communicate(), timeout=whole + 30)
    except TimeoutError:
        process.kill()
        _, stderr = await process.communicate()
    return process.returncode, stderr.decode(errors="replace")


@asynccontextmanager
async def recording(
    pids: Mapping[str, int], seconds: float, directory: Path, stamp: str
) -> AsyncIterator[FlameGraphs]:
    """Records each process (service name → pid) for `seconds` from when the block begins;
    the SVGs are complete once it has left the block (it waits for py-spy to write them)."""
    graphs = FlameGraphs()
    binary = py_spy()
    if binary is None:
        graphs.failed = dict.fromkeys(pids, "py-spy is not installed (pip install py-spy)")
        yield graphs
        return
    await asyncio.to_thread(directory.mkdir, parents=True, exist_ok=True)
    paths = {name: directory / f"{name}-{stamp}.svg" for name in pids}
    recordings = {
        name: asyncio.create_task(_record(binary, pid, seconds, paths[name]))
        for name, pid in pids.items()
    }
    try:
        yield graphs
    finally:
        # py-spy writes its SVG when its duration ends.
        for name, recorded in recordings.items():
            code, stderr = await recorded
            if code == 0 and paths[name].exists():
                graphs.written[name] = paths[name]
            else:
                graphs.failed[name] = _why(stderr, code)
