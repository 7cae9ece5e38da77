"""A second province's Tongban for the integration tests: Jiangsu (TONGBAN_PROVINCE=320000) with
its own Kafka broker (the launcher, run as Jiangsu so the ACLs are of Jiangsu's localities), its
own databases (other names on the test session's PostgreSQL server), its own key ring, and its
routing and approval as processes of their own (the province is read at import, so they cannot
share the test's interpreter, which is Anhui's). Its federation gateway is a GatewayProcess on
that broker. What the 代收代办 journey touches runs: routing and approval decide, intake and
delivery see the partner's case and leave it to the receiving province (no portal)."""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from shared.db.migrations import upgrade
from shared.settings import Settings, with_database
from tooling.infra import ensure_databases, free_ports
from tooling.infra.kafka_credentials import KafkaCredentials
from tooling.local_state import STATE_FILE_VARIABLE

REPO_ROOT = Path(__file__).resolve().parents[1]
PROVINCE = "320000"
DATABASES = {
    "routing": "tongban_test_js_routing",
    "approval": "tongban_test_js_approval",
    "intake": "tongban_test_js_intake",
    "delivery": "tongban_test_js_delivery",
    "federation": "tongban_test_js_federation",
}
SERVICES = ("routing", "approval", "intake", "delivery")


@dataclass
class JiangsuStack:
    work: Path
    database_server: str  # the test session's PostgreSQL server (other database names)
    kafka_bootstrap_servers: str = ""
    credentials: KafkaCredentials | None = None
    ports: dict[str, int] = field(default_factory=dict)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    def database_url(self, service: str) -> str:
        return with_database(self.database_server, DATABASES[service])

    @property
    def key_ring_dir(self) -> Path:
        return self.work / "keys"

    def settings(self) -> Settings:
        """Settings to mint Jiangsu's tokens with (its key ring; the test's own province)."""
        return Settings(
            _env_file=None, key_ring_dir=str(self.key_ring_dir), tongban_env="development"
        )

    def kafka_env(self, principal: str) -> dict[str, str]:
        assert self.credentials is not None
        return {
            "KAFKA_BOOTSTRAP_SERVERS": self.kafka_bootstrap_servers,
            **self.credentials.environment(principal),
        }

    def env(self) -> dict[str, str]:
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.work),
            "PYTHONPATH": str(REPO_ROOT),
            "PYTHONUNBUFFERED": "1",
            "TONGBAN_ENV": "development",
            "TONGBAN_LANG": "en",
            "TONGBAN_PROVINCE": PROVINCE,
            STATE_FILE_VARIABLE: str(self.work / "no-stack.json"),
            "KEY_RING_DIR": str(self.key_ring_dir),
            "DATABASE_URL": self.database_server,
            "BLOB_STORE_URL": str(self.work / "blobs"),
            # Jiangsu's delivery posts nothing here; a port nobody listens on.
            "CARRIER_BASE_URL": "http://127.0.0.1:9",
            **{f"{s.upper()}_DATABASE_URL": self.database_url(s) for s in DATABASES},
        }

    def start_broker(self, within: float = 120) -> None:
        """Jiangsu's Kafka broker (`python -m tooling.infra` as Jiangsu; DATABASE_URL given, so
        no second PostgreSQL), until it prints where it listens."""
        log = (self.work / "infra.log").open("ab")
        process = subprocess.Popen(
            [sys.executable, "-m", "tooling.infra", "--work-dir", str(self.work / "infra")],
            cwd=REPO_ROOT,
            env=self.env(),
            stdout=subprocess.PIPE,
            stderr=log,
            start_new_session=True,
        )
        self.processes["infra"] = process
        assert process.stdout is not None
        watch = selectors.DefaultSelector()
        watch.register(process.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + within
        while not self.kafka_bootstrap_servers:
            assert process.poll() is None, self._log("infra")
            assert time.monotonic() < deadline, f"Jiangsu's broker: {self._log('infra')}"
            if watch.select(timeout=0.5):
                line = process.stdout.readline().decode().strip()
                if line.startswith("KAFKA_BOOTSTRAP_SERVERS="):
                    self.kafka_bootstrap_servers = line.split("=", 1)[1]
        self.credentials = KafkaCredentials.load(self.work / "infra")

    def start(self) -> None:
        self.work.mkdir(parents=True, exist_ok=True)
        ensure_databases(self.database_server, list(DATABASES.values()), recreate=True)
        for service in DATABASES:
            upgrade(service, self.database_url(service))
        self.start_broker()
        self.ports = dict(zip(SERVICES, free_ports(len(SERVICES)), strict=True))
        # Routing first: it makes the development key ring (Jiangsu's seals) and the topics.
        for service in SERVICES:
            self.start_service(service)

    def start_service(self, service: str, within: float = 90) -> None:
        log = (self.work / f"{service}.log").open("ab")
        port = str(self.ports[service])
        self.processes[service] = subprocess.Popen(
            [sys.executable, "-m", "tooling.cli", "serve", service, "--port", port],
            cwd=REPO_ROOT,
            env=self.env() | self.kafka_env(service),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + within
        while True:
            try:
                if httpx.get(f"{self.url(service)}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            assert self.processes[service].poll() is None, self._log(service)
            assert time.monotonic() < deadline, f"Jiangsu's {service}: {self._log(service)}"
            time.sleep(0.3)

    def _log(self, name: str) -> str:
        path = self.work / f"{name}.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def stop(self) -> None:
        for name in [*SERVICES, "infra"]:
            process = self.processes.pop(name, None)
            if process is None or process.poll() is not None:
                continue
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
