"""`make run PROVINCES=2`: the real launcher (`python -m tooling.cli run --provinces 2`, free
ports, its own PostgreSQL and two brokers) starts Anhui's stack with its federation gateway and
Jiangsu's Tongban with its own; each gateway trusts the other; a Jiangsu resident's application
at the 阜阳 window is decided in Jiangsu and comes back; a killed gateway is started again by
the supervisor; Ctrl-C stops both provinces and takes the imported trust away again."""

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

from services.federation.tls import TlsFiles
from shared.settings import DEFAULT_PORTS, Settings
from tooling.infra import free_ports
from tooling.journey import Journey, household_application, sample_applicant
from tooling.ports import SECOND_PROVINCE_PORTS

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]
WORK = REPO_ROOT / ".tongban"
STATE = WORK / "supervisor.json"
START_SECONDS = 400.0
NANJING = "320100"


@dataclass
class Launched:
    process: subprocess.Popen[str]
    ports: dict[str, int]
    stack_file: Path
    output: list[str] = field(default_factory=list)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def key_ring(self) -> str:
        return str(json.loads(self.stack_file.read_text())["settings"]["key_ring_dir"])


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
    home = tmp_path_factory.mktemp("two-provinces-run")
    names = [*DEFAULT_PORTS, *(f"jiangsu_{name}" for name in SECOND_PROVINCE_PORTS)]
    ports = dict(zip(names, free_ports(len(names)), strict=True))
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
        [sys.executable, "-m", "tooling.cli", "run", "--provinces", "2"],
        env=env,
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    started = Launched(process, ports, home / "stack.json")
    began = time.monotonic()
    try:
        _read_until(started, "Press Ctrl-C to stop", START_SECONDS)
        print(f"\nmake run --provinces 2 up in {time.monotonic() - began:.0f} s")
        deadline = time.monotonic() + 30  # the supervisor writes its state once it runs
        while not STATE.exists():
            assert time.monotonic() < deadline, "no supervisor state"
            time.sleep(0.1)
        yield started
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)
            try:
                process.wait(120)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def _state() -> dict[str, dict[str, object]]:
    return {p["name"]: p for p in json.loads(STATE.read_text())["processes"]}


def _gateway_client(province: str) -> httpx.Client:
    """A client with the launcher's development certificate of `province` (mutual TLS)."""
    ca = WORK / "federation" / "ca"
    files = TlsFiles(
        str(ca / f"gateway-{province}.pem"),
        str(ca / f"gateway-{province}-key.pem"),
        str(ca / "ca.pem"),
    )
    return httpx.Client(verify=files.client_context(), timeout=10)


def _partners(launched: Launched, port_name: str, province: str) -> list[str]:
    with _gateway_client(province) as client:
        answer = client.get(f"https://127.0.0.1:{launched.ports[port_name]}/v1/federation/partners")
    assert answer.status_code == 200, answer.text
    return [partner["province"] for partner in answer.json()["partners"]]


def test_both_provinces_run_supervised_and_each_gateway_trusts_the_other(
    launched: Launched,
) -> None:
    shown = "".join(launched.output)
    assert f"https://127.0.0.1:{launched.ports['federation']}" in shown
    assert f"https://127.0.0.1:{launched.ports['jiangsu_federation']}" in shown
    supervised = set(_state())
    assert supervised >= {"federation", "js-kafka", "js-federation"}
    assert supervised >= {f"js-{name}" for name in ("intake", "routing", "approval", "delivery")}
    assert _partners(launched, "federation", "34") == ["32"]
    assert _partners(launched, "jiangsu_federation", "32") == ["34"]
    # Jiangsu's services are Jiangsu's: its catalog, not Anhui's.
    items = httpx.get(f"{launched.url('jiangsu_intake')}/v1/catalog/items", timeout=10).json()
    codes = {item["item_code"] for item in items["items"]}
    assert "JS-GA-0101" in codes and "GA-HJ-001" not in codes, codes


def test_a_jiangsu_residents_application_crosses_and_comes_back(launched: Launched) -> None:
    urls = {name: launched.url(name) for name in ("intake", "routing", "approval", "delivery")}
    anhui = Settings(_env_file=None, key_ring_dir=launched.key_ring(), tongban_env="development")
    jiangsu = Settings(
        _env_file=None, key_ring_dir=str(WORK / "32" / "keys"), tongban_env="development"
    )
    trip = Journey(anhui, urls, timeout=90)
    there = Journey(jiangsu, {"approval": launched.url("jiangsu_approval")}, timeout=90)

    async def journey() -> list[str]:
        await trip.upload_sample_scans()  # the window scans the ID card and the register
        began = time.monotonic()
        response = await trip.submit(household_application(sample_applicant("320102", 7)))
        assert response.status_code == 201, response.text
        number: str = response.json()["application_no"]
        assert response.json()["competent_locality"] == NANJING
        await there.wait_for_case(number, NANJING)
        opened = time.monotonic() - began
        await there.approve(number, NANJING)
        decided = time.monotonic()
        approved = await trip.wait_for_status(number, "approved")
        print(
            f"\n201 to Jiangsu's case opened {opened:.2f} s; "
            f"Jiangsu's approval to approved at the 阜阳 window {time.monotonic() - decided:.2f} s"
        )
        return [entry["status"] for entry in approved["timeline"]]

    statuses = asyncio.run(journey())
    assert statuses[:4] == ["accepted", "routed", "in_review", "approved"], statuses


def test_a_killed_gateway_is_started_again(launched: Launched) -> None:
    for name, pid_file, port_name, province in (
        ("federation", WORK / "logs" / "federation.pid", "federation", "34"),
        ("js-federation", WORK / "32" / "logs" / "federation.pid", "jiangsu_federation", "32"),
    ):
        before = int(str(_state()[name]["restarts"]))
        killed_at = time.monotonic()
        os.kill(int(pid_file.read_text().split()[0]), signal.SIGKILL)
        while True:
            shown = _state()[name]
            if shown["restarts"] == before + 1 and shown["state"] == "running":
                break
            assert time.monotonic() - killed_at < 30, f"{name} not restarted: {shown}"
            time.sleep(0.2)
        assert shown["last_signal"] == "SIGKILL"
        print(f"\n{name}: SIGKILL to running again {time.monotonic() - killed_at:.1f} s")
        deadline = time.monotonic() + 60
        while True:  # serving again, with its partner still trusted
            try:
                assert _partners(launched, port_name, province) == [
                    {"34": "32", "32": "34"}[province]
                ]
                break
            except (httpx.HTTPError, OSError):
                assert time.monotonic() < deadline, f"{name} not serving again"
                time.sleep(0.5)
    assert launched.process.poll() is None, "the stack stayed up"


def test_ctrl_c_stops_both_provinces_and_the_imported_trust_goes(launched: Launched) -> None:
    pids = [
        int(path.read_text().split()[0])
        for path in [*(WORK / "logs").glob("*.pid"), *(WORK / "32" / "logs").glob("*.pid")]
    ]
    assert len(pids) >= 6
    os.killpg(launched.process.pid, signal.SIGINT)
    assert launched.process.wait(120) == 0
    rest = launched.process.stdout.read() if launched.process.stdout else ""
    assert "Stopped." in rest, rest[-2000:]
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert not list((WORK / "federation" / "trusted").glob("*.json"))
    assert not list((WORK / "32" / "federation" / "trusted").glob("*.json"))
