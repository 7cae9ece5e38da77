"""The real `make run` (`python -m tooling.cli run …`) started from a test: on free ports, with its
own PostgreSQL and brokers, beside this session's stack; and what the tests of it do to it
(read its output, read the supervisor's state, SIGKILL a process and wait for its restart, take
one application from a window to hand-over)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from services.federation.tls import TlsFiles
from shared.settings import DEFAULT_PORTS, Settings
from tooling.demo import print_certificate
from tooling.infra import free_ports
from tooling.journey import Journey, household_application, sample_applicant, sample_pdf
from tooling.ports import SECOND_PROVINCE_PORTS
from tooling.scale import PORT_STEP, SCALED

REPO_ROOT = Path(__file__).resolve().parents[2]
WORK = REPO_ROOT / ".tongban"
STATE = WORK / "supervisor.json"  # the supervisor's, while the stack runs
START_SECONDS = 400.0
STOP_SECONDS = 120.0


@dataclass
class Launched:
    process: subprocess.Popen[str]
    env: dict[str, str]
    ports: dict[str, int]
    stack_file: Path
    output: list[str] = field(default_factory=list)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def key_ring(self) -> str:
        return str(json.loads(self.stack_file.read_text())["settings"]["key_ring_dir"])

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

    def read_until(self, marker: str, within: float) -> None:
        deadline = time.monotonic() + within
        assert self.process.stdout is not None
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                break
            self.output.append(line)
            if marker in line:
                return
        raise AssertionError(f"no {marker!r} from make run:\n{''.join(self.output[-60:])}")


def _free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _ports() -> dict[str, int]:
    """Every port of Anhui's stack and its second instances' (PORT_STEP higher), free now; the
    second province's from the kernel's free ones (another range, so they cannot meet)."""
    for base in range(24000, 30000, 250):
        ports = {name: base + n for n, name in enumerate(DEFAULT_PORTS)}
        wanted = [*ports.values(), *(ports[name] + PORT_STEP for name in SCALED)]
        if all(_free(port) for port in wanted):
            jiangsu = [f"jiangsu_{name}" for name in SECOND_PROVINCE_PORTS]
            return ports | dict(zip(jiangsu, free_ports(len(jiangsu)), strict=True))
    raise AssertionError("no free ports")


@contextmanager
def launched_stack(home: Path, arguments: Sequence[str]) -> Iterator[Launched]:
    """`tongban run <arguments>` until the block ends, then Ctrl-C (if a test has not)."""
    ports = _ports()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", str(home)),  # the Kafka jars' cache
        "PYTHONPATH": str(REPO_ROOT),
        "TONGBAN_LANG": "en",
        "TONGBAN_STACK_FILE": str(home / "stack.json"),
        "KAFKA_PORT": "0",
        "JIANGSU_KAFKA_PORT": "0",
        **{f"{name.upper()}_PORT": str(port) for name, port in ports.items()},
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "tooling.cli", "run", *arguments],
        env=env,
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    started = Launched(process, env, ports, home / "stack.json")
    began = time.monotonic()
    try:
        started.read_until("Press Ctrl-C to stop", START_SECONDS)
        print(f"\ntongban run {' '.join(arguments)} up in {time.monotonic() - began:.0f} s")
        deadline = time.monotonic() + 30  # the supervisor writes its state once it runs
        while not STATE.exists():
            assert time.monotonic() < deadline, "no supervisor state"
            time.sleep(0.1)
        yield started
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)
            try:
                process.wait(STOP_SECONDS)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def supervised() -> dict[str, dict[str, object]]:
    """The supervisor's state of each process, by name."""
    return {p["name"]: p for p in json.loads(STATE.read_text())["processes"]}


def pid_of(pid_file: Path) -> int:
    return int(pid_file.read_text().split()[0])


def kill_and_wait_restart(name: str, pid: int) -> float:
    """SIGKILL `name`; seconds until the supervisor has it running again."""
    before = int(str(supervised()[name]["restarts"]))
    killed_at = time.monotonic()
    os.kill(pid, signal.SIGKILL)
    while True:
        shown = supervised()[name]
        if shown["restarts"] == before + 1 and shown["state"] == "running":
            return time.monotonic() - killed_at
        assert time.monotonic() - killed_at < 30, f"{name} not restarted: {shown}"
        time.sleep(0.2)


def wait_ready(launched: Launched, within: float) -> None:
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


@dataclass
class LaunchedJourney(Journey):
    """The window's and approver's tokens made by the launched stack's `tongban token`."""

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
        scan = await trip.upload_scan(sample_pdf("ID card, after a process was killed"), "id.pdf")
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


def gateway_partners(launched: Launched, port_name: str, province: str) -> list[str]:
    """The partners a gateway trusts, asked with the launcher's development certificate of
    `province` (mutual TLS)."""
    ca = WORK / "federation" / "ca"
    files = TlsFiles(
        str(ca / f"gateway-{province}.pem"),
        str(ca / f"gateway-{province}-key.pem"),
        str(ca / "ca.pem"),
    )
    with httpx.Client(verify=files.client_context(), timeout=10) as client:
        answer = client.get(f"https://127.0.0.1:{launched.ports[port_name]}/v1/federation/partners")
    assert answer.status_code == 200, answer.text
    return [partner["province"] for partner in answer.json()["partners"]]
