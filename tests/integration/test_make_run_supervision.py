"""`make run` keeps its stack up: routing killed with SIGKILL is started again within seconds, the
console's overview says so, and the next application goes from the window to hand-over; Ctrl-C
still stops everything. The real launcher (`python -m tooling.cli run`) with its own broker and
PostgreSQL, on free ports, beside this session's stack."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from shared.settings import DEFAULT_PORTS, Settings
from tooling.demo import print_certificate
from tooling.infra import free_ports
from tooling.journey import Journey, household_application, sample_applicant, sample_pdf

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]
STATE = REPO_ROOT / ".tongban" / "supervisor.json"
START_SECONDS = 300.0


@dataclass
class Launched:
    process: subprocess.Popen[str]
    env: dict[str, str]
    ports: dict[str, int]
    output: list[str] = field(default_factory=list)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def token(self, *arguments: str) -> str:
        made = subprocess.run(
            [sys.executable, "-m", "tooling.cli", "token", *arguments],
            env=self.env,
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        return made.stdout.strip().splitlines()[-1]


def _read_until(launched: Launched, marker: str, within: float) -> None:
    deadline = time.monotonic() + within
    assert launched.process.stdout is not None
    while time.monotonic() < deadline:
        line = launched.process.stdout.readline()
        if not line:
            break
        launched.output.append(line)
        if marker in line:
            return
    raise AssertionError(f"no {marker!r} from make run:\n{''.join(launched.output[-60:])}")


@pytest.fixture(scope="module")
def launched(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Launched]:
    home = tmp_path_factory.mktemp("make-run")
    ports = dict(zip(DEFAULT_PORTS, free_ports(len(DEFAULT_PORTS)), strict=True))
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", str(home)),  # the Kafka jars' cache
        "PYTHONPATH": str(REPO_ROOT),
        "TONGBAN_LANG": "en",
        "TONGBAN_STACK_FILE": str(home / "stack.json"),
        "KAFKA_PORT": "0",
        **{f"{name.upper()}_PORT": str(port) for name, port in ports.items()},
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "tooling.cli", "run"],
        env=env,
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    started = Launched(process, env, ports)
    try:
        _read_until(started, "Press Ctrl-C to stop", START_SECONDS)
        deadline = time.monotonic() + 30  # the supervisor writes its state once it runs
        while not STATE.exists():
            assert time.monotonic() < deadline, "no supervisor state"
            time.sleep(0.1)
        yield started
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)
            try:
                process.wait(90)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def _state() -> dict[str, dict[str, object]]:
    return {p["name"]: p for p in json.loads(STATE.read_text())["processes"]}


@dataclass
class LaunchedJourney(Journey):
    launched: Launched | None = None

    @property
    def clerk_token(self) -> str:
        assert self.launched is not None
        return self.launched.token(
            "--role", "window_clerk", "--locality", self.receiving_locality,
            "--window-id", self.window_id,
        )  # fmt: skip

    def approver_token(self, locality: str) -> str:
        assert self.launched is not None
        return self.launched.token("--role", "approver", "--locality", locality)


def window_to_hand_over(launched: Launched) -> str:
    """One application from the 阜阳 window to hand-over on the launched stack."""
    urls = {name: launched.url(name) for name in ("intake", "routing", "approval", "delivery")}
    trip = LaunchedJourney(Settings(), urls, timeout=120.0, launched=launched)
    applicant = sample_applicant("340104")

    async def journey() -> str:
        scan = await trip.upload_scan(sample_pdf("ID card, after routing was killed"), "id.pdf")
        body = household_application(applicant)
        body["materials"][0]["sha256"] = scan["sha256"]
        response = await trip.submit(body)
        assert response.status_code == 201, response.text
        number: str = response.json()["application_no"]
        await trip.approve(number, response.json()["competent_locality"])
        job = await trip.wait_in_print_queue(number)
        await print_certificate(trip, job["certificate_no"])
        handed = await trip.hand_over(number, applicant["id_number"])
        assert handed.status_code == 200, handed.text
        final = await trip.wait_for_status(number, "delivered")
        return str(final["status"])

    return asyncio.run(journey())


def _wait_ready(launched: Launched, within: float) -> None:
    deadline = time.monotonic() + within
    for name in ("intake", "routing", "approval", "delivery"):
        while True:
            try:
                if httpx.get(f"{launched.url(name)}/readyz", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, f"{name} not ready again"
            time.sleep(0.5)


def _kill_and_wait_restart(name: str, pid: int) -> float:
    """SIGKILL `name`; seconds until the supervisor has it running again."""
    before = int(str(_state()[name]["restarts"]))
    killed_at = time.monotonic()
    os.kill(pid, signal.SIGKILL)
    while True:
        shown = _state()[name]
        if shown["restarts"] == before + 1 and shown["state"] == "running":
            return time.monotonic() - killed_at
        assert time.monotonic() - killed_at < 30, f"{name} not restarted: {shown}"
        time.sleep(0.2)


def test_routing_killed_is_started_again_and_the_next_application_completes(
    launched: Launched,
) -> None:
    assert set(_state()) >= {"kafka", "postgres", "intake", "routing", "approval", "delivery"}
    pid = int((REPO_ROOT / ".tongban" / "logs" / "routing.pid").read_text().split()[0])
    restarted_within = _kill_and_wait_restart("routing", pid)
    routing = _state()["routing"]
    assert routing["last_signal"] == "SIGKILL"
    assert restarted_within < 10, restarted_within
    assert launched.process.poll() is None, "the stack stayed up"

    assert window_to_hand_over(launched) == "delivered"

    # The console's overview shows the restart (an operator's token, the console's session).
    operator = launched.token("--role", "operator", "--locality", "340000")
    with httpx.Client(base_url=launched.url("console"), timeout=30) as console:
        signed_in = console.post("/login", data={"token": operator}, follow_redirects=True)
        assert signed_in.status_code == 200, signed_in.text
        page = console.get("/", headers={"Accept-Language": "zh-CN"}).text
    assert "本机进程" in page and "被 SIGKILL 终止" in page


@pytest.mark.parametrize("name", ["kafka", "postgres"])
def test_the_broker_or_postgresql_killed_is_started_again_and_applications_go_on(
    launched: Launched, name: str
) -> None:
    # The launcher's run directory is named for its process (this session's is another).
    runs = REPO_ROOT / ".tongban" / "infra"
    pid_file = next(runs.glob(f"run-{launched.process.pid}-*/{name}.pid"), None)
    assert pid_file is not None, list(runs.rglob("*.pid"))
    seconds = _kill_and_wait_restart(name, int(pid_file.read_text().split()[0]))
    assert seconds < 10, seconds
    # As an orchestrator would, traffic waits for readiness: a service's pool kept connections
    # to the PostgreSQL that died (no pre-ping, shared/db/engine.py), and the readiness check's
    # first statement is what finds them stale and has the pool replaced.
    _wait_ready(launched, within=60)
    assert window_to_hand_over(launched) == "delivered"
    assert launched.process.poll() is None


def test_ctrl_c_still_stops_everything(launched: Launched) -> None:
    os.killpg(launched.process.pid, signal.SIGINT)
    assert launched.process.wait(90) == 0
    rest = launched.process.stdout.read() if launched.process.stdout else ""
    assert "Stopped." in rest, rest[-2000:]
    assert not STATE.exists(), "the supervisor's state goes with the stack"
