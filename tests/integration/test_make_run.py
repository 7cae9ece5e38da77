"""`make run PROVINCES=2 SCALE=2` for real, launched once (`python -m tooling.cli run --provinces 2
--scale 2`, free ports, its own PostgreSQL and two brokers; tests/integration/launched_stack.py):

- Anhui's stack with its federation gateway, a second process of each of its services, and
  Jiangsu's Tongban with its own gateway, every process supervised; each gateway trusts the other;
- a Jiangsu resident's application at the 阜阳 window is decided in Jiangsu and comes back;
- a SIGKILLed process is started again within seconds and the work goes on: the second intake
  (an application handed in at it opens its case), each gateway (its partner still trusted),
  routing (the next application reaches hand-over, the console's overview says so), the broker
  and PostgreSQL;
- Ctrl-C stops both provinces and takes the imported trust away again.

The tests run in this order on the one stack: the gateways and the second intake first, then the
faults that touch everything (the broker, PostgreSQL), then Ctrl-C."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Iterator

import httpx
import pytest

from shared.settings import Settings
from tests.integration.launched_stack import (
    STATE,
    STOP_SECONDS,
    WORK,
    Launched,
    LaunchedJourney,
    gateway_partners,
    kill_and_wait_restart,
    launched_stack,
    pid_of,
    supervised,
    wait_ready,
    window_to_hand_over,
)
from tooling.journey import Journey, household_application, sample_applicant
from tooling.scale import PORT_STEP, SCALED, spread_application

pytestmark = pytest.mark.integration

NANJING = "320100"
SERVICES = ("intake", "routing", "approval", "delivery")


@pytest.fixture(scope="module")
def launched(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Launched]:
    home = tmp_path_factory.mktemp("make-run")
    with launched_stack(home, ["--provinces", "2", "--scale", "2"]) as stack:
        yield stack


def test_every_process_is_supervised_and_each_gateway_trusts_the_other(
    launched: Launched,
) -> None:
    shown = "".join(launched.output)
    assert f"https://127.0.0.1:{launched.ports['federation']}" in shown
    assert f"https://127.0.0.1:{launched.ports['jiangsu_federation']}" in shown
    state = supervised()
    assert set(state) >= {"kafka", "postgres", *SERVICES, "console", "carrier", "federation"}
    assert set(state) >= {f"{name}-2" for name in SCALED}
    assert set(state) >= {"js-kafka", "js-federation", *(f"js-{name}" for name in SERVICES)}
    assert all(process["state"] == "running" for process in state.values()), state
    assert gateway_partners(launched, "federation", "34") == ["32"]
    assert gateway_partners(launched, "jiangsu_federation", "32") == ["34"]
    # Jiangsu's services are Jiangsu's: its catalog, not Anhui's.
    items = httpx.get(f"{launched.url('jiangsu_intake')}/v1/catalog/items", timeout=10).json()
    codes = {item["item_code"] for item in items["items"]}
    assert "JS-GA-0101" in codes and "GA-HJ-001" not in codes, codes


def test_a_jiangsu_residents_application_crosses_and_comes_back(launched: Launched) -> None:
    urls = {name: launched.url(name) for name in SERVICES}
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
    # Jiangsu's certificate comes back before its approval, and with two delivery instances
    # the certificate can be at the window first; the timeline lists the approval when Jiangsu
    # decided (contracts/federation.md §10), so it reads in the order things happened.
    assert statuses[:4] == ["accepted", "routed", "in_review", "approved"], statuses


def test_the_second_intake_killed_is_started_again_and_an_application_there_opens_its_case(
    launched: Launched,
) -> None:
    restarted_within = kill_and_wait_restart("intake-2", pid_of(WORK / "logs" / "intake-2.pid"))
    assert supervised()["intake-2"]["last_signal"] == "SIGKILL"
    assert restarted_within < 10, restarted_within
    assert launched.process.poll() is None, "the stack stayed up"

    second = f"http://127.0.0.1:{launched.ports['intake'] + PORT_STEP}"
    urls = {name: launched.url(name) for name in SCALED} | {"intake": second}
    trip = LaunchedJourney(Settings(), urls, timeout=120.0, launched=launched)

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


def test_a_killed_gateway_is_started_again_with_its_partner_still_trusted(
    launched: Launched,
) -> None:
    for name, pid_file, port_name, province, partner in (
        ("federation", WORK / "logs" / "federation.pid", "federation", "34", "32"),
        (
            "js-federation",
            WORK / "32" / "logs" / "federation.pid",
            "jiangsu_federation",
            "32",
            "34",
        ),
    ):
        seconds = kill_and_wait_restart(name, pid_of(pid_file))
        assert supervised()[name]["last_signal"] == "SIGKILL"
        print(f"\n{name}: SIGKILL to running again {seconds:.1f} s")
        deadline = time.monotonic() + 60
        while True:  # serving again, with its partner still trusted
            try:
                assert gateway_partners(launched, port_name, province) == [partner]
                break
            except (httpx.HTTPError, OSError):
                assert time.monotonic() < deadline, f"{name} not serving again"
                time.sleep(0.5)
    assert launched.process.poll() is None, "the stack stayed up"


def test_routing_killed_is_started_again_and_the_next_application_completes(
    launched: Launched,
) -> None:
    restarted_within = kill_and_wait_restart("routing", pid_of(WORK / "logs" / "routing.pid"))
    assert supervised()["routing"]["last_signal"] == "SIGKILL"
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
    runs = WORK / "infra"
    pid_file = next(runs.glob(f"run-{launched.process.pid}-*/{name}.pid"), None)
    assert pid_file is not None, list(runs.rglob("*.pid"))
    seconds = kill_and_wait_restart(name, pid_of(pid_file))
    assert seconds < 10, seconds
    # As an orchestrator would, traffic waits for readiness: a service's pool kept connections
    # to the PostgreSQL that died (no pre-ping, shared/db/engine.py), and the readiness check's
    # first statement is what finds them stale and has the pool replaced.
    wait_ready(launched, within=60)
    assert window_to_hand_over(launched) == "delivered"
    assert launched.process.poll() is None


def test_ctrl_c_stops_both_provinces_and_the_imported_trust_goes(launched: Launched) -> None:
    pids = [
        pid_of(path)
        for path in [*(WORK / "logs").glob("*.pid"), *(WORK / "32" / "logs").glob("*.pid")]
    ]
    assert len(pids) >= 12
    os.killpg(launched.process.pid, signal.SIGINT)
    assert launched.process.wait(STOP_SECONDS) == 0
    rest = launched.process.stdout.read() if launched.process.stdout else ""
    assert "Stopped." in rest, rest[-2000:]
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert not STATE.exists(), "the supervisor's state goes with the stack"
    assert not list((WORK / "federation" / "trusted").glob("*.json"))
    assert not list((WORK / "32" / "federation" / "trusted").glob("*.json"))
