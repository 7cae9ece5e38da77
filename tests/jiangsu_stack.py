"""A second province's Tongban for the integration tests: Jiangsu (TONGBAN_PROVINCE=320000), as
`make run PROVINCES=2` starts it (tooling.second_province: its own Kafka broker with Jiangsu's
ACLs, its own databases on the test session's PostgreSQL server, its own key ring, its services
as processes of their own, since the province is read at import). What the 代收代办 journey
touches runs, on free ports: routing and approval decide, intake and delivery see the partner's
case and leave it to the receiving province (no portal). Its federation gateway is a
GatewayProcess on that broker."""

from __future__ import annotations

import asyncio
import os
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from shared.settings import Settings
from tooling.infra import free_ports, stop_processes
from tooling.infra.kafka_credentials import KafkaCredentials
from tooling.second_province import PROVINCE, SecondProvince, wait_ready
from tooling.stack_processes import ServiceProcess

__all__ = ["PROVINCE", "JiangsuStack"]

DATABASE_PREFIX = "tongban_test_js_"
SERVICES = ("routing", "approval", "intake", "delivery")


@dataclass
class JiangsuStack:
    work: Path
    database_server: str  # the test session's PostgreSQL server (other database names)
    province: SecondProvince = field(init=False)
    services: dict[str, ServiceProcess] = field(default_factory=dict)
    _running: ExitStack = field(default_factory=ExitStack)

    def __post_init__(self) -> None:
        self.province = SecondProvince(
            self.work, self.database_server, database_prefix=DATABASE_PREFIX, services=SERVICES
        )

    @property
    def ports(self) -> dict[str, int]:
        return self.province.ports

    def url(self, service: str) -> str:
        return self.province.url(service)

    def database_url(self, service: str) -> str:
        return self.province.database_url(service)

    @property
    def key_ring_dir(self) -> Path:
        return self.province.key_ring_dir

    def settings(self) -> Settings:
        """Settings to mint Jiangsu's tokens with (its key ring; the test's own province)."""
        return self.province.settings()

    def kafka_env(self, principal: str) -> dict[str, str]:
        return self.province.kafka_env(principal)

    @property
    def kafka_bootstrap_servers(self) -> str:
        return self.province.kafka_bootstrap_servers

    @property
    def credentials(self) -> KafkaCredentials | None:
        return self.province.credentials

    def base_env(self) -> dict[str, str]:
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.work),
            "TONGBAN_LANG": "en",
            # Jiangsu's delivery posts nothing here; a port nobody listens on.
            "CARRIER_BASE_URL": "http://127.0.0.1:9",
        }

    def start(self) -> None:
        self.work.mkdir(parents=True, exist_ok=True)
        self.province.log_dir.mkdir(parents=True, exist_ok=True)
        self.province.migrate(recreate=True)
        self._running.enter_context(self.province.broker(None))
        self.province.ports = dict(zip(SERVICES, free_ports(len(SERVICES)), strict=True))
        # Routing first: it makes the development key ring (Jiangsu's seals) and the topics.
        for service in SERVICES:
            self.start_service(service)

    def start_service(self, service: str) -> None:
        started = self.province.service_process(service, self.base_env())
        self.services[service] = started
        started.process.start()
        asyncio.run(wait_ready([started], within=90))

    def stop(self) -> None:
        try:
            stop_processes([s.process for s in self.services.values()], grace=30)
            self.services.clear()
        finally:
            self._running.close()
