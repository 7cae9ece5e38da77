"""Two provinces' Tongban for the 异地代收代办 tests (tests/integration/test_federation_two_stacks
.py): the test session's stack is Anhui's, Jiangsu's is a second one (tests/jiangsu_stack.py);
each province's gateway runs on its own broker, with mutual TLS and trust exchanged with
`tongban federation anchor export` / `trust add`. What the tests read on either side."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine

from services.routing.db import RoutedApplicationRow
from shared.certificates import seal_name
from shared.crypto.keyring import KeyRing
from shared.db.migrations import upgrade
from shared.messaging.deadletters import list_dead_letters
from shared.reference.localities import load_localities, localities_file
from shared.settings import DEVELOPMENT_KEY_RING_SECRET, Settings, with_database
from tests.federation_gateway import GatewayProcess
from tests.jiangsu_stack import PROVINCE, JiangsuStack
from tooling.federation_pki import DevelopmentCA
from tooling.infra import Infrastructure, ensure_databases, free_ports
from tooling.kafka_principals import ADMIN_PRINCIPAL


@dataclass
class TwoProvinces:
    jiangsu: JiangsuStack
    anhui_gateway: GatewayProcess
    jiangsu_gateway: GatewayProcess


def start_gateways(
    jiangsu: JiangsuStack, root: Path, infrastructure: Infrastructure, anhui_ring: str
) -> tuple[GatewayProcess, GatewayProcess]:
    """Jiangsu's stack, then both gateways, each trusting the other's anchor (which names its
    localities' seal keys, so Jiangsu's stack starts first: its approval made them)."""
    jiangsu.start()
    # Jiangsu's approval groups' seals, issued to its trust list before its anchor names them
    # (a development ring makes a key on first use; a production ring has them beforehand).
    ring = KeyRing(jiangsu.key_ring_dir, DEVELOPMENT_KEY_RING_SECRET, development=True)
    for locality in load_localities(localities_file(PROVINCE), province=PROVINCE):
        ring.signer(seal_name(locality))
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
    """`tongban federation log NUMBER` on one side: (direction, type, verified) of each."""
    done = side.tongban("log", number, "--json")
    assert done.returncode == 0, done.stderr
    return {(m["direction"], m["type"], m["verified"]) for m in json.loads(done.stdout)}


async def ledger(url: str, token: str, number: str) -> tuple[set[str], dict[str, Any]]:
    async with httpx.AsyncClient(
        base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=15
    ) as routing:
        entries = (await routing.get(f"/v1/audit/applications/{number}")).json()["entries"]
        verdict = (await routing.get("/v1/audit/verify")).json()
    return {entry["event_type"] for entry in entries}, verdict


async def dead_letters_of(jiangsu: JiangsuStack, numbers: set[str]) -> list[str]:
    """What Jiangsu's consumers dead-lettered about `numbers` (its broker, as its admin)."""
    assert jiangsu.credentials is not None
    admin = jiangsu.credentials.environment(ADMIN_PRINCIPAL)
    settings = Settings(
        _env_file=None,
        kafka_bootstrap_servers=jiangsu.kafka_bootstrap_servers,
        kafka_security_protocol=admin["KAFKA_SECURITY_PROTOCOL"],
        kafka_sasl_mechanism=admin["KAFKA_SASL_MECHANISM"],
        kafka_username=ADMIN_PRINCIPAL,
        kafka_password=admin["KAFKA_PASSWORD"],
    )
    letters = await list_dead_letters(settings, limit=1000)
    return [
        f"{letter.consumer} {letter.event_type} {letter.error_type}: {letter.error_message}"
        for letter in letters
        if letter.key in numbers
    ]
