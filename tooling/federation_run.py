"""跨省通办 in `make run`: this province's federation gateway (services/federation, port 8010)
beside the services and, with `--provinces 2`, a second Tongban (Jiangsu, tooling.second_province)
with its own gateway (8110). Each gateway: its database migrated, HTTPS with mutual TLS from a
development CA kept in .tongban/federation/ca, supervised like every other process.

Trust stays explicit: with one province the gateway trusts no partner. With two, each gateway
trusts the other's anchor, imported at start as `tongban federation trust add` would, in
development only, and removed again when the stack stops (an anchor an operator imported by
hand is left alone): the launcher notes what it imported in the trust folder's parent.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from rich.console import Console

from shared.db.migrations import upgrade
from shared.federation.anchors import Anchor, TrustedPartners
from shared.federation.province_anchor import issue_development_seals, province_anchor
from shared.federation.settings import FEDERATION_DATABASE
from shared.settings import Settings, with_database
from tooling.federation_pki import DevelopmentCA, GatewayFiles
from tooling.infra import Infrastructure, ManagedProcess, ensure_databases, stop_processes
from tooling.local_state import forget, record
from tooling.ports import second_province_kafka_port, second_province_ports, service_ports
from tooling.second_province import (
    RunningSecondProvince,
    SecondProvince,
    running_second_province,
)
from tooling.stack_processes import REPO_ROOT, ServiceProcess, until_ready

PROVINCE_NAMES = {"34": "安徽省", "32": "江苏省"}
START_TIMEOUT_SECONDS = 60.0
IMPORTED = "imported-by-make-run.json"
# The gateways of a developer's machine look for due messages and retry quickly.
QUICK = {
    "FEDERATION_POLL_SECONDS": "0.2",
    "FEDERATION_RETRY_BASE_SECONDS": "0.5",
    "FEDERATION_RETRY_MAX_SECONDS": "10",
}


@dataclass
class Gateway(ServiceProcess):
    """A province's gateway process: served over HTTPS, mutual TLS only."""

    province: str = "34"
    tls: GatewayFiles | None = None
    key_ring_dir: Path = Path()
    trust_dir: Path = Path()

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def client(self) -> httpx.AsyncClient:
        """A client presenting this gateway's certificate, as it calls its partners."""
        assert self.tls is not None
        return httpx.AsyncClient(verify=self.tls.client_context(), timeout=2)


def gateway(
    province: str,
    *,
    port: int,
    env: Mapping[str, str],
    database_url: str,
    key_ring_dir: Path,
    trust_dir: Path,
    tls: GatewayFiles,
    log_dir: Path,
    title: str,
) -> Gateway:
    """`python -m services.federation` for `province` (34, 32) with its environment."""
    url = f"https://127.0.0.1:{port}"
    gateway_env = (
        dict(env)
        | QUICK
        | {
            "TONGBAN_PROVINCE": f"{province}0000",
            "FEDERATION_PROVINCE_NAME": PROVINCE_NAMES[province],
            "FEDERATION_GATEWAY_URL": url,
            "FEDERATION_PORT": str(port),
            "FEDERATION_TRUST_DIR": str(trust_dir),
            "FEDERATION_DATABASE_URL": database_url,
            "FEDERATION_TLS_CERT": str(tls.cert),
            "FEDERATION_TLS_KEY": str(tls.key),
            "FEDERATION_TLS_CA": str(tls.ca),
            "FEDERATION_KAFKA": "true",
            "KEY_RING_DIR": str(key_ring_dir),
        }
    )
    process = ManagedProcess(
        title,
        [sys.executable, "-m", "services.federation"],
        log_path=log_dir / "federation.log",
        pid_file=log_dir / "federation.pid",
        cwd=REPO_ROOT,
        env=gateway_env,
        stop_signal=signal.SIGTERM,
    )
    return Gateway("federation", port, process, province, tls, key_ring_dir, trust_dir)


def anchor_of(side: Gateway, settings: Settings) -> Anchor:
    """The province's anchor as `tongban federation anchor export` makes it (its ring's keys and
    its localities' seals, each made first: a development ring makes a key on first use)."""
    ring = settings.model_copy(update={"key_ring_dir": str(side.key_ring_dir)}).key_ring()
    issue_development_seals(ring, side.province)
    return province_anchor(
        ring,
        province=side.province,
        name=PROVINCE_NAMES[side.province],
        gateway_url=side.url,
        valid_days=30,
    )


def trust_each_other(sides: list[Gateway], settings: Settings) -> None:
    """Each gateway's trust folder gets the others' anchors (development only)."""
    anchors = {side.province: anchor_of(side, settings) for side in sides}
    for side in sides:
        side.trust_dir.mkdir(parents=True, exist_ok=True)
        partners = [code for code in anchors if code != side.province]
        for code in partners:
            TrustedPartners(side.trust_dir).add(anchors[code])
        (side.trust_dir.parent / IMPORTED).write_text(json.dumps(partners))


def forget_imported(trust_dir: Path) -> None:
    """Remove the anchors the launcher imported (not those an operator added)."""
    noted = trust_dir.parent / IMPORTED
    if not noted.exists():
        return
    for code in json.loads(noted.read_text()):
        TrustedPartners(trust_dir).remove(code)
    noted.unlink()


async def wait_gateways_ready(gateways: list[Gateway]) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS

    async def one(side: Gateway) -> None:
        async with side.client() as http:
            await until_ready(
                side.process,
                http,
                side.url,
                deadline=deadline,
                not_ready=f"The {side.process.name} was not ready on {side.url}.",
            )

    await asyncio.gather(*(one(side) for side in gateways))


@dataclass
class Federation:
    """What `make run` runs for 跨省通办: this province's gateway, and a second province."""

    gateway: Gateway
    second: RunningSecondProvince | None = None
    second_gateway: Gateway | None = None

    def processes(self) -> dict[str, ManagedProcess]:
        named = {"federation": self.gateway.process}
        if self.second is not None and self.second_gateway is not None:
            named |= self.second.processes() | {"js-federation": self.second_gateway.process}
        return named

    def recorded_settings(self) -> dict[str, str]:
        """For .tongban/stack.json: `tongban federation trust list` reads the gateway's folder."""
        return {"federation_trust_dir": str(self.gateway.trust_dir)}

    def shown(self) -> dict[str, ServiceProcess]:
        """What the start lists, by name: the gateways, Jiangsu's services."""
        named: dict[str, ServiceProcess] = {"federation": self.gateway}
        if self.second is not None and self.second_gateway is not None:
            named |= {f"js-{name}": s for name, s in self.second.services.items()}
            named["js-federation"] = self.second_gateway
        return named


@contextmanager
def running_federation(
    console: Console,
    infra: Infrastructure,
    env: Mapping[str, str],
    work_dir: Path,
    provinces: int,
    settings: Settings,
) -> Iterator[Federation]:
    """Started once the services are ready (routing made the topics the gateway reads), stopped
    before them; `env` is the launcher's environment. Lists what it started."""
    credentials = infra.kafka_credentials
    env = dict(env) | (credentials.environment("federation") if credentials else {})
    folder = work_dir / "federation"
    trust_dir = folder / "trusted"
    forget_imported(trust_dir)
    database_url = with_database(infra.database_url, FEDERATION_DATABASE)
    ensure_databases(infra.database_url, [FEDERATION_DATABASE])
    upgrade("federation", database_url)
    ca = DevelopmentCA(folder / "ca")
    ours = gateway(
        "34",
        port=service_ports()["federation"],
        env=env,
        database_url=database_url,
        key_ring_dir=Path(REPO_ROOT, settings.key_ring_dir).resolve(),
        trust_dir=trust_dir,
        tls=ca.issue("34"),
        log_dir=work_dir / "logs",
        title="federation gateway",
    )
    federation = Federation(ours)
    with ExitStack() as stack:
        stack.callback(forget_imported, trust_dir)
        if provinces >= 2:
            second = SecondProvince(work_dir / "32", infra.database_url)
            second.ports = second_province_ports()
            federation.second = stack.enter_context(
                running_second_province(
                    console, second, env, kafka_port=second_province_kafka_port()
                )
            )
            federation.second_gateway = gateway(
                "32",
                port=second.ports["federation"],
                env=second.env(env) | second.kafka_env("federation"),
                database_url=second.database_url("federation"),
                key_ring_dir=second.key_ring_dir,
                trust_dir=second.trust_dir,
                tls=ca.issue("32"),
                log_dir=second.log_dir,
                title="Jiangsu's federation gateway",
            )
            stack.callback(forget_imported, second.trust_dir)
            trust_each_other([ours, federation.second_gateway], settings)
            stack.callback(forget, second.state_file)
            record(second.local_stack(), second.state_file)
        gateways = [ours] + ([federation.second_gateway] if federation.second_gateway else [])
        stack.callback(stop_processes, [side.process for side in gateways], 10)
        for side in gateways:
            side.process.start()
        with console.status("Starting the federation gateway(s)…"):
            asyncio.run(wait_gateways_ready(gateways))
        for name, running in federation.shown().items():
            console.print(f"[green]✓[/] {name:<9} {running.url}  (log: {running.process.log_path})")
        yield federation
