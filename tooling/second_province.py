"""A second province's Tongban on this machine: Jiangsu (TONGBAN_PROVINCE=320000), for `make run
PROVINCES=2`, `make demo` and the integration tests (contracts/federation.md §14-15).

It has its own Kafka broker (the launcher's, with Jiangsu's ACL table: its localities' approval
principals and topics), its own databases on the first province's PostgreSQL server (other
names), its own development key ring and its services as processes of their own (`tongban
serve`, with TONGBAN_PROVINCE set: the province is read at import, so they cannot share an
interpreter with Anhui's). Its federation gateway is started by tooling.federation_run.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from rich.console import Console

from shared.db.migrations import upgrade
from shared.messaging.readers import READERS
from shared.reference.localities import load_localities, localities_file
from shared.settings import Settings, with_database
from tooling.infra import ManagedProcess, ensure_databases, local_infrastructure, stop_processes
from tooling.infra.kafka_credentials import KafkaCredentials
from tooling.kafka_acl import AclTable, acl_table
from tooling.local_state import STATE_FILE_VARIABLE, LocalStack
from tooling.stack_processes import REPO_ROOT, ServiceProcess, until_ready

PROVINCE = "320000"
NAME = "江苏省"
# What `make run PROVINCES=2` starts of it, routing first (it makes the key ring and topics).
SERVICES = ("routing", "intake", "approval", "delivery")
START_TIMEOUT_SECONDS = 120.0
# The first province's settings a second province's process must not inherit.
_NOT_INHERITED = ("PROVINCE", "SUPERVISOR_STATE_FILE", "KAFKA_", "DATABASE_URL", "_PORT")


def second_province_acl_table() -> AclTable:
    """The broker's grants for Jiangsu's services and its localities' approval systems (read
    from its localities file: this process's own province is Anhui's)."""
    return acl_table(READERS, load_localities(localities_file(PROVINCE), PROVINCE))


@dataclass
class SecondProvince:
    work: Path  # its key ring, broker, logs, trust folder (.tongban/32 for make run)
    database_server: str  # the first province's PostgreSQL server (other database names)
    database_prefix: str = "tongban_js_"
    services: tuple[str, ...] = SERVICES
    ports: dict[str, int] = field(default_factory=dict)
    kafka_bootstrap_servers: str = ""
    credentials: KafkaCredentials | None = None
    _broker: ManagedProcess | None = field(default=None, init=False, repr=False)

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    def database_url(self, service: str) -> str:
        return with_database(self.database_server, f"{self.database_prefix}{service}")

    @property
    def key_ring_dir(self) -> Path:
        return self.work / "keys"

    @property
    def trust_dir(self) -> Path:
        return self.work / "federation" / "trusted"

    @property
    def log_dir(self) -> Path:
        return self.work / "logs"

    @property
    def state_file(self) -> Path:
        """Where `tongban` run as Jiangsu (TONGBAN_PROVINCE=320000, TONGBAN_STACK_FILE set to
        this) finds its stack."""
        return self.work / "stack.json"

    def local_stack(self) -> LocalStack:
        assert self.credentials is not None, "Jiangsu's broker is not started"
        return LocalStack(
            pid=os.getpid(),
            kafka_bootstrap_servers=self.kafka_bootstrap_servers,
            database_url=self.database_server,
            infra_dir=str(self.work / "infra"),
            settings={
                "tongban_env": "development",
                "key_ring_dir": str(self.key_ring_dir.resolve()),
                "federation_trust_dir": str(self.trust_dir.resolve()),
                "federation_database_url": self.database_url("federation"),
            },
            urls={name: self.url(name) for name in self.services},
        )

    def settings(self) -> Settings:
        """Settings to mint Jiangsu's tokens with (its key ring) from this process."""
        return Settings(
            _env_file=None, key_ring_dir=str(self.key_ring_dir), tongban_env="development"
        )

    def kafka_env(self, principal: str) -> dict[str, str]:
        assert self.credentials is not None, "Jiangsu's broker is not started"
        return {
            "KAFKA_BOOTSTRAP_SERVERS": self.kafka_bootstrap_servers,
            **self.credentials.environment(principal),
        }

    def env(self, base: Mapping[str, str]) -> dict[str, str]:
        """`base` (the launcher's environment) made Jiangsu's: its province, key ring,
        databases; no setting of the first province's stack carried over."""
        kept = {
            name: value
            for name, value in base.items()
            if not any(part in name for part in _NOT_INHERITED)
        }
        return kept | {
            "PYTHONPATH": str(REPO_ROOT),
            "PYTHONUNBUFFERED": "1",
            "TONGBAN_ENV": "development",
            "TONGBAN_PROVINCE": PROVINCE,
            # `tongban` run with this environment finds Jiangsu's stack, not Anhui's.
            STATE_FILE_VARIABLE: str(self.state_file),
            "KEY_RING_DIR": str(self.key_ring_dir),
            # Its own scans: a partner's scan crosses only on request (contracts/federation.md).
            "BLOB_STORE_URL": str(self.work / "blobs"),
            "DATABASE_URL": self.database_server,
            **{f"{s.upper()}_DATABASE_URL": self.database_url(s) for s in self.databases()},
        }

    def databases(self) -> tuple[str, ...]:
        return (*self.services, "federation")

    def migrate(self, *, recreate: bool = False) -> None:
        names = [f"{self.database_prefix}{s}" for s in self.databases()]
        ensure_databases(self.database_server, names, recreate=recreate)
        for service in self.databases():
            upgrade(service, self.database_url(service))

    @contextmanager
    def broker(self, console: Console | None, kafka_port: int = 0) -> Iterator[None]:
        """Jiangsu's Kafka broker, this process's child, while the block runs."""
        with local_infrastructure(
            self.work / "infra",
            acl_table=second_province_acl_table(),
            console=console,
            kafka_port=kafka_port,
            database_url=self.database_server,
            own_broker=True,
        ) as infra:
            self.kafka_bootstrap_servers = infra.kafka_bootstrap_servers
            self.credentials = infra.kafka_credentials
            self._broker = infra.processes["kafka"]
            try:
                yield
            finally:
                self.kafka_bootstrap_servers = ""

    @property
    def broker_process(self) -> ManagedProcess:
        assert self._broker is not None, "Jiangsu's broker is not started"
        return self._broker

    def service_process(self, service: str, base: Mapping[str, str]) -> ServiceProcess:
        port = self.ports[service]
        return ServiceProcess(
            service,
            port,
            ManagedProcess(
                f"Jiangsu's {service} service",
                [sys.executable, "-m", "tooling.cli", "serve", service, "--port", str(port)],
                log_path=self.log_dir / f"{service}.log",
                pid_file=self.log_dir / f"{service}.pid",
                cwd=REPO_ROOT,
                env=self.env(base) | self.kafka_env(service),
                stop_signal=signal.SIGTERM,
            ),
        )


@dataclass
class RunningSecondProvince:
    province: SecondProvince
    services: dict[str, ServiceProcess]

    def processes(self) -> dict[str, ManagedProcess]:
        """For the supervisor, named js-… beside the first province's processes."""
        return {"js-kafka": self.province.broker_process} | {
            f"js-{name}": service.process for name, service in self.services.items()
        }


@contextmanager
def running_second_province(
    console: Console,
    province: SecondProvince,
    base_env: Mapping[str, str],
    *,
    kafka_port: int = 0,
    recreate: bool = False,
) -> Iterator[RunningSecondProvince]:
    """Its databases migrated, its broker and services started (routing first) and ready;
    everything stopped when the block ends."""
    province.log_dir.mkdir(parents=True, exist_ok=True)
    with console.status("Jiangsu (320000): creating and migrating its databases…"):
        province.migrate(recreate=recreate)
    with province.broker(console, kafka_port):
        services = {s: province.service_process(s, base_env) for s in province.services}
        try:
            with console.status("Jiangsu (320000): starting its services…"):
                first, *others = province.services
                services[first].process.start()
                asyncio.run(wait_ready([services[first]]))
                for name in others:
                    services[name].process.start()
                asyncio.run(wait_ready([services[name] for name in others]))
            yield RunningSecondProvince(province, services)
        finally:
            stop_processes([s.process for s in services.values()], grace=20)


async def wait_ready(services: list[ServiceProcess], within: float = START_TIMEOUT_SECONDS) -> None:
    deadline = time.monotonic() + within
    async with httpx.AsyncClient(timeout=2) as http:
        await asyncio.gather(
            *(
                until_ready(
                    service.process,
                    http,
                    service.url,
                    deadline=deadline,
                    not_ready=f"{service.process.name} was not ready on {service.url}.",
                )
                for service in services
            )
        )
