"""`make run SCALE=2` for real (`python -m tooling.cli run --scale 2`, its own broker and
PostgreSQL, on free ports): a second process of each service, each supervised; the second
intake SIGKILLed is started again, and an application handed in at it opens its case at
approval. Beside this session's stack."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest

from shared.settings import DEFAULT_PORTS, Settings
from tests.integration.test_make_run_supervision import (
    REPO_ROOT,
    START_SECONDS,
    STATE,
    Launched,
    LaunchedJourney,
    _kill_and_wait_restart,
    _read_until,
    _state,
)
from tooling.journey import sample_applicant
from tooling.scale import PORT_STEP, SCALED, spread_application

pytestmark = pytest.mark.integration


def _free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _ports() -> dict[str, int]:
    """Every port of the stack, and the second instances' (PORT_STEP higher), free now."""
    for base in range(24000, 30000, 250):
        ports = {name: base + n for n, name in enumerate(DEFAULT_PORTS)}
        wanted = [*ports.values(), *(ports[name] + PORT_STEP for name in SCALED)]
        if all(_free(port) for port in wanted):
            return ports
    raise AssertionError("no free ports")


@pytest.fixture(scope="module")
def scaled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Launched]:
    home = tmp_path_factory.mktemp("make-run-scale")
    ports = _ports()
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
        [sys.executable, "-m", "tooling.cli", "run", "--scale", "2"],
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
        deadline = time.monotonic() + 30
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


def test_two_of_each_supervised_and_an_application_at_the_second_intake_opens_its_case(
    scaled: Launched,
) -> None:
    shown = _state()
    assert {f"{name}-2" for name in SCALED} <= set(shown), sorted(shown)
    assert all(shown[f"{name}-2"]["state"] == "running" for name in SCALED)

    pid = int((REPO_ROOT / ".tongban" / "logs" / "intake-2.pid").read_text().split()[0])
    restarted_within = _kill_and_wait_restart("intake-2", pid)
    assert _state()["intake-2"]["last_signal"] == "SIGKILL"
    assert restarted_within < 10, restarted_within
    assert scaled.process.poll() is None, "the stack stayed up"

    second = f"http://127.0.0.1:{scaled.ports['intake'] + PORT_STEP}"
    urls = {name: scaled.url(name) for name in SCALED} | {"intake": second}
    trip = LaunchedJourney(Settings(), urls, timeout=120.0, launched=scaled)

    async def hand_in() -> None:
        # Ready again after its restart: the window retries until it answers.
        deadline = time.monotonic() + 120
        while True:
            try:
                await trip.upload_sample_scans()
                break
            except (OSError, httpx.HTTPError):
                assert time.monotonic() < deadline, "the second intake never answered"
                await asyncio.sleep(1)
        response = await trip.submit(spread_application(sample_applicant("340104", sequence=7)))
        assert response.status_code == 201, response.text
        number = response.json()["application_no"]
        case = await trip.wait_for_case(number, response.json()["competent_locality"])
        assert case["application_no"] == number

    asyncio.run(hand_in())
