"""The health check of a process that serves no HTTP (`tongban audit watch --heartbeat FILE`):
the process touches a file each time round its loop, and this tells how old it is.

    python -m tooling.heartbeat FILE [MAX_AGE_SECONDS]    # exit code 0 fresh, 1 stale or absent

Run by docker compose's health check and the Kubernetes probes every few seconds, so it imports
nothing but the standard library (the `tongban` command would take seconds of CPU to start).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

DEFAULT_MAX_AGE_SECONDS = 60.0


def beat(heartbeat: Path) -> None:
    """Say the loop still turns."""
    heartbeat.touch()


def alive(heartbeat: Path, max_age_seconds: float = DEFAULT_MAX_AGE_SECONDS) -> bool:
    """The file was touched within `max_age_seconds`."""
    try:
        return time.time() - heartbeat.stat().st_mtime <= max_age_seconds
    except FileNotFoundError:
        return False


def main(arguments: list[str]) -> int:
    if not 1 <= len(arguments) <= 2:
        print("usage: python -m tooling.heartbeat FILE [MAX_AGE_SECONDS]", file=sys.stderr)
        return 2
    max_age = float(arguments[1]) if len(arguments) == 2 else DEFAULT_MAX_AGE_SECONDS
    return 0 if alive(Path(arguments[0]), max_age) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
