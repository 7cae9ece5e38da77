"""`make run`'s supervisor on real child processes: one killed with SIGKILL is started again after
its backoff with its exit status recorded, a crash loop stops the stack naming the process, a
process that stayed up starts its backoff afresh, and the console reads what it wrote."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.console.backend import Backend
from shared.settings import Settings
from tooling.infra._common import ManagedProcess, stop_processes
from tooling.supervisor import (
    CRASH_LOOP_DEATHS,
    FIRST_BACKOFF_SECONDS,
    STABLE_SECONDS,
    CrashLoop,
    Supervisor,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def sleeper(tmp_path: Path, name: str, argv: list[str] | None = None) -> ManagedProcess:
    process = ManagedProcess(
        name,
        argv or [sys.executable, "-c", "import time; time.sleep(120)"],
        log_path=tmp_path / f"{name}.log",
        pid_file=tmp_path / f"{name}.pid",
        cwd=tmp_path,
        stop_signal=signal.SIGTERM,
    )
    process.start()
    return process


def wait_dead(process: ManagedProcess) -> None:
    deadline = time.monotonic() + 10
    while process.alive():
        assert time.monotonic() < deadline, "the process did not die"
        time.sleep(0.02)


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[dict[str, ManagedProcess]]:
    started = {"routing": sleeper(tmp_path, "routing"), "kafka": sleeper(tmp_path, "kafka")}
    yield started
    stop_processes(list(started.values()), grace=2)


def test_a_killed_process_is_started_again_after_its_backoff(
    tmp_path: Path, processes: dict[str, ManagedProcess]
) -> None:
    clock, state = Clock(), tmp_path / "supervisor.json"
    supervisor = Supervisor(processes, state_file=state, clock=clock)
    first_pid = processes["routing"].popen.pid  # type: ignore[union-attr]
    os.kill(first_pid, signal.SIGKILL)
    wait_dead(processes["routing"])

    supervisor.tick()  # noticed: waits its backoff
    written = {p["name"]: p for p in json.loads(state.read_text())["processes"]}
    assert written["routing"]["state"] == "restarting"
    assert written["routing"]["last_signal"] == "SIGKILL"
    assert written["routing"]["last_exit_at"] is not None
    assert not processes["routing"].alive()

    clock.now += FIRST_BACKOFF_SECONDS
    supervisor.tick()
    assert processes["routing"].alive()
    assert processes["routing"].popen.pid != first_pid  # type: ignore[union-attr]
    assert processes["kafka"].alive(), "the others are left alone"
    written = {p["name"]: p for p in json.loads(state.read_text())["processes"]}
    assert written["routing"] | {"last_exit_at": None, "last_restart_at": None, "log": None} == {
        "name": "routing",
        "state": "running",
        "restarts": 1,
        "last_exit_code": None,
        "last_signal": "SIGKILL",
        "last_exit_at": None,
        "last_restart_at": None,
        "log": None,
    }
    assert written["kafka"]["restarts"] == 0


def test_the_exit_code_of_a_process_that_failed_is_kept(tmp_path: Path) -> None:
    failing = sleeper(tmp_path, "portal", [sys.executable, "-c", "raise SystemExit(3)"])
    try:
        wait_dead(failing)
        supervisor = Supervisor({"portal": failing}, clock=Clock())
        supervisor.tick()
        (shown,) = supervisor.state()
        assert shown["last_exit_code"] == 3 and shown["last_signal"] is None
    finally:
        stop_processes([failing], grace=1)


def test_a_crash_loop_stops_the_stack_and_says_which_process(tmp_path: Path) -> None:
    crashing = sleeper(tmp_path, "approval", [sys.executable, "-c", "print('no database')"])
    clock = Clock()
    supervisor = Supervisor({"approval": crashing}, clock=clock)
    try:
        with pytest.raises(CrashLoop) as stopped:
            for _ in range(CRASH_LOOP_DEATHS * 2):
                wait_dead(crashing)
                supervisor.tick()  # noticed
                clock.now += 5  # within a minute, past any backoff so far
                supervisor.tick()  # started again
        message = str(stopped.value)
        assert "approval" in message and str(CRASH_LOOP_DEATHS) in message
        assert "no database" in message, "the log's last lines say why"
        assert supervisor.watched["approval"].restarts == CRASH_LOOP_DEATHS - 1
    finally:
        stop_processes([crashing], grace=1)


def test_the_backoff_doubles_and_starts_afresh_after_a_stable_run(
    processes: dict[str, ManagedProcess],
) -> None:
    clock = Clock()
    supervisor = Supervisor({"routing": processes["routing"]}, clock=clock)
    delays = []
    for stable in (False, False, True):
        if stable:
            clock.now += STABLE_SECONDS
        os.kill(processes["routing"].popen.pid, signal.SIGKILL)  # type: ignore[union-attr]
        wait_dead(processes["routing"])
        supervisor.tick()
        due = supervisor.watched["routing"].restart_due
        assert due is not None
        delays.append(due - clock.now)
        clock.now = due
        supervisor.tick()
    assert delays == [FIRST_BACKOFF_SECONDS, 2 * FIRST_BACKOFF_SECONDS, FIRST_BACKOFF_SECONDS]


def test_the_console_reads_the_state_the_supervisor_wrote(
    tmp_path: Path, processes: dict[str, ManagedProcess]
) -> None:
    state = tmp_path / "supervisor.json"
    Supervisor(processes, state_file=state, clock=Clock())
    backend = Backend(Settings(supervisor_state_file=state))
    assert [p["name"] for p in backend.supervised_processes()] == ["routing", "kafka"]
    assert Backend(Settings()).supervised_processes() == []
    state.write_text("{half a file")
    assert backend.supervised_processes() == []
