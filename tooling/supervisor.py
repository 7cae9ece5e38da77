"""`make run` keeps its processes up as Kubernetes keeps pods up: a process that dies (the four
services, the console, the portal, the simulators, the audit watcher, the Kafka broker,
PostgreSQL) is started again after a backoff that doubles from one second to thirty, its exit
status logged and written where the console's overview shows it. Only a crash loop (five deaths
of one process within a minute) stops the stack, with a message that says which and why.

The state file (.tongban/supervisor.json, `SUPERVISOR_STATE_FILE` for the console) is written on
every change; nothing else reads the launcher's memory.
"""

from __future__ import annotations

import json
import os
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console

from shared.i18n import _
from tooling.infra._common import InfrastructureError, ManagedProcess, signal_name, tail_file

CRASH_LOOP_DEATHS = 5
CRASH_LOOP_SECONDS = 60.0
FIRST_BACKOFF_SECONDS = 1.0
LONGEST_BACKOFF_SECONDS = 30.0
# A process that stayed up this long starts its backoff from the first step again.
STABLE_SECONDS = 60.0


class CrashLoop(InfrastructureError):
    """One process died CRASH_LOOP_DEATHS times within CRASH_LOOP_SECONDS: the stack stops."""


@dataclass
class Watched:
    name: str
    process: ManagedProcess
    deaths: deque[float] = field(default_factory=deque)  # monotonic times, the last minute's
    restarts: int = 0
    backoff: float = FIRST_BACKOFF_SECONDS
    started_at: float = field(default_factory=time.monotonic)
    restart_due: float | None = None  # monotonic; set while it waits to be started again
    last_exit: str = ""  # in words, for the terminal
    last_exit_code: int | None = None  # for the console, which says it in its language
    last_signal: str | None = None  # "SIGKILL"
    last_exit_at: str | None = None  # ISO 8601, UTC
    last_restart_at: str | None = None

    def as_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "state": "restarting" if self.restart_due is not None else "running",
            "restarts": self.restarts,
            "last_exit_code": self.last_exit_code,
            "last_signal": self.last_signal,
            "last_exit_at": self.last_exit_at,
            "last_restart_at": self.last_restart_at,
            "log": str(self.process.kept_log_path),
        }


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class Supervisor:
    """Call `tick()` about once a second: it notices deaths, schedules and performs restarts."""

    def __init__(
        self,
        processes: Mapping[str, ManagedProcess],
        *,
        console: Console | None = None,
        state_file: Path | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.clock = clock
        self.watched = {
            name: Watched(name, process, started_at=clock()) for name, process in processes.items()
        }
        self.console = console
        self.state_file = state_file
        self._write_state()

    def tick(self) -> None:
        """Raise CrashLoop if a process keeps dying; otherwise restart what is due."""
        now = self.clock()
        changed = False
        for watched in self.watched.values():
            if watched.restart_due is None and not watched.process.alive():
                self._died(watched, now)
                changed = True
            elif watched.restart_due is not None and now >= watched.restart_due:
                watched.process.restart()
                watched.restart_due = None
                watched.restarts += 1
                watched.started_at = now
                watched.last_restart_at = _now_iso()
                self._say(
                    _(
                        "{name} started again (restart {count})",
                        name=watched.name,
                        count=watched.restarts,
                    ),
                    "green",
                )
                changed = True
        if changed:
            self._write_state()

    def _died(self, watched: Watched, now: float) -> None:
        watched.last_exit = watched.process.exit_status() or _("stopped")
        code = watched.process.popen.returncode if watched.process.popen is not None else None
        watched.last_exit_code = code if code is not None and code >= 0 else None
        watched.last_signal = signal_name(-code) if code is not None and code < 0 else None
        watched.last_exit_at = _now_iso()
        while watched.deaths and now - watched.deaths[0] > CRASH_LOOP_SECONDS:
            watched.deaths.popleft()
        watched.deaths.append(now)
        if len(watched.deaths) >= CRASH_LOOP_DEATHS:
            self._write_state()
            raise CrashLoop(
                _(
                    "{name} died {count} times within {seconds} s (last: {status}); stopping "
                    "the stack.",
                    name=watched.name,
                    count=len(watched.deaths),
                    seconds=f"{CRASH_LOOP_SECONDS:.0f}",
                    status=watched.last_exit,
                )
                + "\n"
                + _("Last lines of its log ({path}):", path=watched.process.kept_log_path)
                + f"\n{tail_file(watched.process.log_path)}"
            )
        if now - watched.started_at >= STABLE_SECONDS:
            watched.backoff = FIRST_BACKOFF_SECONDS
        delay = watched.backoff
        watched.backoff = min(watched.backoff * 2, LONGEST_BACKOFF_SECONDS)
        watched.restart_due = now + delay
        self._say(
            _(
                "{name} stopped ({status}); starting it again in {seconds} s (log: {path})",
                name=watched.name,
                status=watched.last_exit,
                seconds=f"{delay:.0f}",
                path=watched.process.kept_log_path,
            ),
            "yellow",
        )

    def state(self) -> list[dict[str, object]]:
        return [watched.as_json() for watched in self.watched.values()]

    def _say(self, message: str, style: str) -> None:
        if self.console is not None:
            self.console.print(message, style=style, markup=False, highlight=False)

    def _write_state(self) -> None:
        if self.state_file is None:
            return
        document = {"written_at": _now_iso(), "processes": self.state()}
        temporary = self.state_file.with_suffix(".tmp")
        temporary.write_text(json.dumps(document, ensure_ascii=False, indent=1))
        os.replace(temporary, self.state_file)  # the console never reads half a file


def supervise(processes: Mapping[str, ManagedProcess], console: Console, state_file: Path) -> None:
    """`make run`'s loop until Ctrl-C: a tick a second; the state file goes with the stack."""
    supervisor = Supervisor(processes, console=console, state_file=state_file)
    try:
        while True:
            supervisor.tick()
            time.sleep(1)
    finally:
        state_file.unlink(missing_ok=True)
