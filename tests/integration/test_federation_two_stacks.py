"""异地代收代办 across two Tongban instances: the test session's stack is Anhui's; Jiangsu's is
a second one (tests/jiangsu_stack.py: TONGBAN_PROVINCE=320000, its own Kafka broker, its own
databases, key ring, routing and approval as processes of their own). Each province's gateway
runs on its own broker, with mutual TLS and trust exchanged with `tongban federation anchor
export` / `trust add`. Nothing of Jiangsu's side is simulated: its routing places the case, its
approval decides it, its gateway sends the decision and the sealed certificate back."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine

from services.federation.db import IncomingRow
from services.routing.db import RoutedApplicationRow
from shared.auth import mint_token
from shared.db.migrations import upgrade
from shared.settings import Settings, with_database
from tests import factories
from tests.federation_gateway import GatewayProcess, count, wait_for
from tests.harness import Stack, eventually
from tests.jiangsu_stack import JiangsuStack
from tooling.federation_pki import DevelopmentCA
from tooling.infra import Infrastructure, ensure_databases, free_ports
from tooling.journey import Journey, household_application

pytestmark = pytest.mark.integration

XUANWU = "320102"  # 南京市玄武区: the applicant's household registration
NANJING = "320100"  # competent for 户口迁移证明 by the agreement (city level)
BACK = ("case.opened", "application.approved", "certificate.issued")


@dataclass
class TwoProvinces:
    jiangsu: JiangsuStack
    anhui_gateway: GatewayProcess
    jiangsu_gateway: GatewayProcess


@pytest.fixture(scope="module")
async def two(
    stack: Stack,
    infrastructure: Infrastructure,
    test_settings: Settings,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[TwoProvinces]:
    """Jiangsu's stack and both gateways, started in a thread: the session's event loop keeps
    serving Anhui's in-process services (and their Kafka heartbeats) meanwhile."""
    root = tmp_path_factory.mktemp("two-provinces")
    jiangsu = JiangsuStack(root / "32", infrastructure.database_url)
    try:
        gateways = await asyncio.to_thread(
            _start, jiangsu, root, infrastructure, test_settings.key_ring_dir
        )
        yield TwoProvinces(jiangsu, *gateways)
        for gateway in gateways:
            await asyncio.to_thread(gateway.stop)
    finally:
        await asyncio.to_thread(jiangsu.stop)


def _start(
    jiangsu: JiangsuStack, root: Path, infrastructure: Infrastructure, anhui_ring: str
) -> tuple[GatewayProcess, GatewayProcess]:
    jiangsu.start()
    name = "tongban_test_federation_two"
    anhui_db = with_database(infrastructure.database_url, name)
    ensure_databases(infrastructure.database_url, [name], recreate=True)
    upgrade("federation", anhui_db)
    assert infrastructure.kafka_credentials is not None
    ca = DevelopmentCA(root / "ca")
    anhui_port, jiangsu_port = free_ports(2)
    (root / "34").mkdir()
    anhui = GatewayProcess(
        "34",
        anhui_port,
        anhui_db,
        root / "34",
        ca.issue("34"),
        extra_env={
            "FEDERATION_KAFKA": "true",
            "KAFKA_BOOTSTRAP_SERVERS": infrastructure.kafka_bootstrap_servers,
            **infrastructure.kafka_credentials.environment("federation"),
            "KEY_RING_DIR": anhui_ring,
        },
    )
    partner = GatewayProcess(
        "32",
        jiangsu_port,
        jiangsu.database_url("federation"),
        jiangsu.work,
        ca.issue("32"),
        extra_env={"FEDERATION_KAFKA": "true", **jiangsu.kafka_env("federation")},
    )
    for side in (anhui, partner):
        exported = side.tongban("anchor", "export", str(root / f"anchor-{side.province}.json"))
        assert exported.returncode == 0, exported.stderr
    for side, other in ((anhui, partner), (partner, anhui)):
        added = side.tongban("trust", "add", str(root / f"anchor-{other.province}.json"))
        assert added.returncode == 0, added.stderr
    anhui.start()
    partner.start()
    return anhui, partner


async def routed_in(database_url: str, number: str) -> Any:
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as connection:
            query = select(RoutedApplicationRow.__table__).where(
                RoutedApplicationRow.application_no == number
            )
            return (await connection.execute(query)).first()
    finally:
        await engine.dispose()


def shown(side: GatewayProcess, number: str) -> set[tuple[str, str, str]]:
    done = side.tongban("log", number, "--json")
    assert done.returncode == 0, done.stderr
    return {(m["direction"], m["type"], m["verified"]) for m in json.loads(done.stdout)}


async def ledger(url: str, token: str, number: str) -> tuple[set[str], dict[str, Any]]:
    import httpx

    async with httpx.AsyncClient(
        base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=15
    ) as routing:
        entries = (await routing.get(f"/v1/audit/applications/{number}")).json()["entries"]
        verdict = (await routing.get("/v1/audit/verify")).json()
    return {entry["event_type"] for entry in entries}, verdict


async def test_a_jiangsu_residents_application_is_decided_in_jiangsu_and_comes_back(
    stack: Stack, two: TwoProvinces
) -> None:
    trip = stack.journey()  # the 阜阳 window W341200-01
    began = time.monotonic()
    response = await trip.submit(household_application(factories.applicant(XUANWU)))
    assert response.status_code == 201, response.text
    number: str = response.json()["application_no"]

    # Jiangsu's routing places it under Jiangsu's item of the same national code, with 南京市.
    jiangsu_routing = two.jiangsu.database_url("routing")
    row: Any = await eventually(lambda: routed_in(jiangsu_routing, number), within=60)
    placed = time.monotonic() - began
    assert (row.outcome, row.competent_locality, row.item_code) == (
        "routed",
        NANJING,
        "JS-GA-0101",
    )
    # Jiangsu's approver (南京市) decides, through Jiangsu's approval.
    jiangsu_settings = two.jiangsu.settings()
    there = Journey(jiangsu_settings, {"approval": two.jiangsu.url("approval")}, timeout=60)
    await there.approve(number, NANJING)
    decided = time.monotonic()

    # The decision comes back to the 阜阳 window's timeline, mapped by the table of statuses.
    approved = await trip.wait_for_status(number, "approved")
    back_at_the_window = time.monotonic() - decided
    statuses = [entry["status"] for entry in approved["timeline"]]
    assert statuses[:4] == ["accepted", "routed", "in_review", "approved"], statuses

    async def all_back() -> bool:
        found = await count(two.anhui_gateway.database_url, IncomingRow, application_no=number)
        return found >= len(BACK)

    await wait_for(all_back, 60)
    # Each side's log holds the other's signed messages for the case, every signature valid.
    assert shown(two.anhui_gateway, number) == {
        ("sent", "application.handed_over", "valid"),
        *{("received", kind, "valid") for kind in BACK},
    }
    assert shown(two.jiangsu_gateway, number) == {
        ("received", "application.handed_over", "valid"),
        *{("sent", kind, "valid") for kind in BACK},
    }
    # Both provinces' audit ledgers verify and chain the gateways' signed records.
    logged = "gov.tongban.federation.message_logged.v1"
    anhui_token = stack.token("operator", "340000")
    jiangsu_token = mint_token(jiangsu_settings, role="operator", locality="320000", sub="test")

    async def chained(url: str, token: str) -> tuple[set[str], dict[str, Any]] | None:
        kinds, verdict = await ledger(url, token, number)
        return (kinds, verdict) if logged in kinds else None

    anhui_ledger: Any = await eventually(
        lambda: chained(stack.services["routing"].base_url, anhui_token), within=30
    )
    jiangsu_ledger: Any = await eventually(
        lambda: chained(two.jiangsu.url("routing"), jiangsu_token), within=30
    )
    assert anhui_ledger[1]["ok"] is True, anhui_ledger
    assert jiangsu_ledger[1]["ok"] is True, jiangsu_ledger
    print(
        f"\n201 to placed by Jiangsu's routing {placed:.2f} s; "
        f"Jiangsu's approval to approved at the 阜阳 window {back_at_the_window:.2f} s"
    )
