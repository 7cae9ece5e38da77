"""Pieces shared by the Kafka and PostgreSQL launchers: errors, ports, logs and child processes."""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import fcntl
import functools
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from rich.console import Console

from shared.i18n import _

T = TypeVar("T")

STOP_GRACE_SECONDS = 15.0
LOG_TAIL_LINES = 40
_ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_ERROR_LINE = re.compile(r"\b(ERROR|FATAL|PANIC)\b|Exception\b")


class InfrastructureError(RuntimeError):
    """The local Kafka broker or PostgreSQL cluster could not be provided; the message says why."""


def say(console: Console | None, message: str) -> None:
    if console is not None:
        # markup=False: messages carry paths and URLs, whose brackets are not rich markup.
        console.print(message, markup=False, highlight=False, style="dim")


def cache_dir() -> Path:
    """Where downloads are kept from one run to the next (Kafka's jars, kustomize)."""
    configured = os.environ.get("TONGBAN_CACHE_DIR")
    return Path(configured) if configured else Path.home() / ".cache" / "tongban"


_HANDED_OUT_PORTS: set[int] = set()
_PORTS_LOCK = threading.Lock()


def apt_get_install(packages: Sequence[str], *, what: str, hint: str) -> None:
    """`apt-get update`, then install `packages` (no recommends, no prompt); InfrastructureError
    naming `what` is missing and how to install it by hand (`hint`) when that cannot be done."""
    if os.geteuid() != 0:
        raise InfrastructureError(f"{what} missing, and installing it needs root. {hint}")
    apt_get = shutil.which("apt-get")
    if apt_get is None:
        raise InfrastructureError(f"{what} missing, and there is no apt-get. {hint}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (
        [apt_get, "update"],
        [apt_get, "install", "-y", "--no-install-recommends", *packages],
    ):
        try:
            result = subprocess.run(
                command,
                env=env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=900,
                check=False,
            )
        except subprocess.TimeoutExpired as error:
            raise InfrastructureError(f"`{' '.join(command)}` timed out. {hint}") from error
        if result.returncode != 0:
            raise InfrastructureError(
                f"`{' '.join(command)}` failed (exit code {result.returncode}). {hint}\n"
                f"{tail_text(result.stdout + result.stderr)}"
            )


def free_ports(count: int) -> list[int]:
    """Ports the kernel says are free on 127.0.0.1 right now, never one this process got before.

    Kafka and PostgreSQL are prepared in parallel and bind their ports a moment later; without
    the memory of earlier answers the kernel could offer a just-released port twice.
    """
    with _PORTS_LOCK, contextlib.ExitStack() as stack:
        ports: list[int] = []
        while len(ports) < count:
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
            if port not in _HANDED_OUT_PORTS:
                ports.append(port)
                _HANDED_OUT_PORTS.add(port)
        return ports


def tail_text(text: str, lines: int = LOG_TAIL_LINES) -> str:
    # Maven colours its output even in batch mode.
    kept = _ANSI_ESCAPE.sub("", text).rstrip().splitlines()[-lines:]
    return "\n".join("    " + line for line in kept) or "    (no output)"


def tail_file(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        with path.open("rb") as handle:
            # A broker log grows to megabytes; the tail is in the last few hundred KiB.
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - 256 * 1024))
            text = handle.read().decode("utf-8", errors="replace")
    except OSError as error:
        return f"    (cannot read {path}: {error})"
    tail = tail_text(text, lines)
    # A failing JVM often logs its cause once and then pages of orderly shutdown.
    first_error = next((line for line in text.splitlines() if _ERROR_LINE.search(line)), None)
    if first_error is not None and first_error.strip() not in tail:
        return f"    {first_error.strip()}\n    …\n{tail}"
    return tail


def run_coroutine_sync(factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine to completion from sync code, even when an event loop is already running.

    Inside a running loop (an async test or app calling sync code) asyncio.run would refuse, so
    the coroutine then runs on a private loop in a worker thread; the calling loop is blocked
    meanwhile, which is acceptable for the start-up and set-up work this is used for.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(factory())
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="tongban-infra") as pool:
        return pool.submit(lambda: asyncio.run(factory())).result()


@dataclass(frozen=True)
class RunAs:
    """An unprivileged account a child runs as (PostgreSQL refuses to run as root)."""

    name: str
    uid: int
    gid: int


def process_start_time(pid: int) -> str | None:
    """The kernel's start time of a process, so a recorded pid is not mistaken after pid reuse."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may contain spaces and parentheses; fields after it are plain.
    fields = stat[stat.rindex(")") + 2 :].split()
    return fields[19] if len(fields) > 19 else None


def signal_name(number: int) -> str:
    """SIGKILL for 9; "signal 64" for a number without a name."""
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _killpg(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def kill_recorded_process(pid_file: Path) -> None:
    """Kill the process group recorded in pid_file if that very process is still running."""
    try:
        pid_text, start_time = pid_file.read_text().split()
        pid = int(pid_text)
    except (OSError, ValueError):
        return
    if process_start_time(pid) == start_time:
        _killpg(pid, signal.SIGKILL)


@functools.cache
def _setpriv_with_pdeathsig() -> str | None:
    setpriv = shutil.which("setpriv")
    if setpriv is None or not sys.platform.startswith("linux"):
        return None
    # --pdeathsig arrived in util-linux 2.33; an older setpriv would refuse the option.
    probe = subprocess.run(
        [setpriv, "--help"], capture_output=True, text=True, timeout=30, check=False
    )
    return setpriv if "--pdeathsig" in probe.stdout else None


def _with_parent_death_signal(argv: Sequence[str]) -> list[str]:
    """Make the kernel SIGKILL the child if this process dies without cleaning up.

    atexit does not run when the parent is SIGKILLed or dies of an unhandled signal, and a
    forgotten broker holds 500 MiB and a port. setpriv (util-linux) sets PR_SET_PDEATHSIG and
    execs the real program, so the pid stays the program's own. The signal fires when the
    *thread* that forked exits, so it is only used from the main thread, which lives as long as
    the process; elsewhere the atexit hook and the stale-run sweep are the fallback.
    """
    setpriv = _setpriv_with_pdeathsig()
    if setpriv is not None and threading.current_thread() is threading.main_thread():
        return [setpriv, "--pdeathsig", "KILL", "--", *argv]
    return list(argv)


class ManagedProcess:
    """A long-running child (broker or postmaster) in its own process group, logging to a file."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        log_path: Path,
        pid_file: Path,
        cwd: Path,
        stop_signal: signal.Signals,
        kept_log_path: Path | None = None,
        env: dict[str, str] | None = None,
        run_as: RunAs | None = None,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        # Where the log ends up once the run directory is cleaned away, for error messages.
        self.kept_log_path = kept_log_path or log_path
        self.pid_file = pid_file
        self.cwd = cwd
        self.stop_signal = stop_signal
        self.env = env
        self.run_as = run_as
        self.popen: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        credentials: dict[str, Any] = {}
        if self.run_as is not None:
            credentials = {"user": self.run_as.uid, "group": self.run_as.gid, "extra_groups": []}
        with self.log_path.open("ab") as log:
            self.popen = subprocess.Popen(
                _with_parent_death_signal(self.argv),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.cwd,
                env=self.env,
                # Own session: Ctrl-C in the terminal reaches us, not the child, so we decide
                # how it stops; and the whole group can be killed at the end.
                start_new_session=True,
                **credentials,
            )
        _LIVE.add(self)
        start_time = process_start_time(self.popen.pid)
        if start_time is not None:
            self.pid_file.write_text(f"{self.popen.pid} {start_time}\n")

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def exit_status(self) -> str:
        """How it ended, in words: "exit code 1", "killed by SIGKILL" (empty while it runs)."""
        code = self.popen.poll() if self.popen is not None else None
        if code is None:
            return ""
        if code < 0:
            return _("killed by {signal}", signal=signal_name(-code))
        return _("exit code {code}", code=code)

    def restart(self) -> None:
        """Start it again after it died: what its group left behind (a killed postmaster's
        backends, which hold its shared memory) is killed first, then the same argv runs."""
        if self.popen is not None:
            _killpg(self.popen.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(5)
        self.start()

    async def wait_ready(
        self,
        serves: Callable[[], Awaitable[bool]],
        *,
        deadline: float,
        not_ready: str,
        every: float = 0.25,
    ) -> None:
        """Return once `serves()` answers yes; fail with the log's tail if the process exits
        first or `deadline` (time.monotonic) passes, with `not_ready` as the message."""
        while True:
            if not self.alive():
                raise self.failure(f"The {self.name} exited during start-up.")
            if await serves():
                return
            if time.monotonic() > deadline:
                raise self.failure(not_ready)
            await asyncio.sleep(every)

    def failure(self, what: str) -> InfrastructureError:
        return InfrastructureError(
            f"{what}\nLast lines of its log (kept as {self.kept_log_path}):\n"
            f"{tail_file(self.log_path)}"
        )

    def _signal_stop(self) -> None:
        if self.alive():
            assert self.popen is not None
            with contextlib.suppress(ProcessLookupError):
                self.popen.send_signal(self.stop_signal)

    def _finish(self, deadline: float) -> None:
        if self.popen is None:
            return
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(max(0.0, deadline - time.monotonic()))
        # Also after a clean exit: helpers the main process left behind (PostgreSQL backends)
        # share its process group.
        _killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait()
        _LIVE.discard(self)
        with contextlib.suppress(OSError):
            self.pid_file.unlink()


def stop_processes(processes: Sequence[ManagedProcess], grace: float = STOP_GRACE_SECONDS) -> None:
    """Ask every process to stop at once, wait up to `grace` seconds in all, then SIGKILL."""
    for process in processes:
        process._signal_stop()
    deadline = time.monotonic() + grace
    for process in processes:
        process._finish(deadline)


_LIVE: set[ManagedProcess] = set()
_EXIT_HOOKS: list[Callable[[], None]] = []
_EXIT_LOCK = threading.Lock()


def on_exit(hook: Callable[[], None]) -> Callable[[], None]:
    """Run hook at interpreter exit unless forget_exit_hook(hook) is called first."""
    with _EXIT_LOCK:
        _EXIT_HOOKS.append(hook)
    return hook


def forget_exit_hook(hook: Callable[[], None]) -> None:
    with _EXIT_LOCK, contextlib.suppress(ValueError):
        _EXIT_HOOKS.remove(hook)


@atexit.register
def _stop_everything_at_exit() -> None:
    # Reached when a caller never left the context manager (a crash, a fixture torn down by
    # interpreter exit): nothing started here may outlive the Python process.
    with _EXIT_LOCK:
        hooks = list(reversed(_EXIT_HOOKS))
        _EXIT_HOOKS.clear()
    for hook in hooks:
        with contextlib.suppress(Exception):
            hook()
    stop_processes(list(_LIVE), grace=5.0)


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive advisory lock, so two processes never fill one cache directory at once."""
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
