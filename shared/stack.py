"""The whole stack as real processes on this machine: what `make run` and `make demo` start.

Kafka and PostgreSQL come from the infrastructure launcher (or from KAFKA_BOOTSTRAP_SERVERS /
DATABASE_URL); then each service's database is created and migrated, and the four services run
as their own processes (`tongban serve <service>`), the way they are deployed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from rich.console import Console

from shared.db.migrations import upgrade
from shared.infra import ensure_databases, local_infrastructure
from shared.settings import DEFAULT_PORTS, SERVICES, Settings, database_name

REPO_ROOT = Path(__file__).resolve().parents[1]


class StackError(RuntimeError):
    pass


@dataclass
class ServiceProcess:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclass
class RunningStack:
    settings: Settings
    services: dict[str, ServiceProcess]

    @property
    def urls(self) -> dict[str, str]:
        return {name: service.url for name, service in self.services.items()}

    def check_alive(self) -> None:
        for service in self.services.values():
            if service.process.poll() is not None:
                raise StackError(
                    f"{service.name} exited ({service.process.returncode}); see {service.log_path}"
                )


def service_ports() -> dict[str, int]:
    """127.0.0.1:8001-8004 unless INTAKE_PORT, ROUTING_PORT, ... say otherwise."""
    return {
        name: int(os.environ.get(f"{name.upper()}_PORT", port))
        for name, port in DEFAULT_PORTS.items()
    }


@contextmanager
def running_stack(console: Console, *, work_dir: Path | None = None) -> Iterator[RunningStack]:
    work_dir = work_dir or REPO_ROOT / ".tongban"
    log_dir = work_dir / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    ports = service_ports()
    with local_infrastructure(work_dir / "infra", console=console) as infra:
        env = {
            **os.environ,
            "KAFKA_BOOTSTRAP_SERVERS": infra.kafka_bootstrap_servers,
            "DATABASE_URL": infra.database_url,
            "ROUTING_URL": f"http://127.0.0.1:{ports['routing']}",
            "PYTHONUNBUFFERED": "1",
        }
        settings = Settings(
            kafka_bootstrap_servers=infra.kafka_bootstrap_servers, database_url=infra.database_url
        )
        with console.status("Creating and migrating the service databases…"):
            ensure_databases(infra.database_url, [database_name(s) for s in SERVICES])
            for service in SERVICES:
                upgrade(service, settings.service_database_url(service))
        started: dict[str, ServiceProcess] = {}
        try:
            for service in SERVICES:
                log_path = log_dir / f"{service}.log"
                with log_path.open("ab") as log:
                    process = subprocess.Popen(
                        [
                            sys.executable,
                            "-m",
                            "shared.cli",
                            "serve",
                            service,
                            "--port",
                            str(ports[service]),
                        ],
                        cwd=REPO_ROOT,
                        env=env,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,  # Ctrl-C reaches us; we stop them in order
                    )
                started[service] = ServiceProcess(service, ports[service], process, log_path)
            stack = RunningStack(settings, started)
            with console.status("Starting intake, routing, approval and delivery…"):
                _wait_ready(stack)
            for running in started.values():
                console.print(
                    f"[green]✓[/] {running.name:<9} {running.url}  (log: {running.log_path})"
                )
            yield stack
        finally:
            _stop(list(started.values()), console)


def _wait_ready(stack: RunningStack, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    pending = dict(stack.services)
    while pending:
        stack.check_alive()
        for name, service in list(pending.items()):
            try:
                if httpx.get(f"{service.url}/readyz", timeout=2).status_code == 200:
                    del pending[name]
            except httpx.HTTPError:
                pass
        if time.monotonic() > deadline:
            raise StackError(
                f"not ready after {timeout:.0f}s: {', '.join(pending)}; see {log_dir_of(stack)}"
            )
        time.sleep(0.3)


def log_dir_of(stack: RunningStack) -> Path:
    return next(iter(stack.services.values())).log_path.parent


def _stop(services: list[ServiceProcess], console: Console) -> None:
    # SIGTERM lets each service finish the record in hand, flush its producer and commit.
    for service in services:
        if service.process.poll() is None:
            service.process.send_signal(signal.SIGTERM)
    for service in services:
        try:
            service.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            console.print(f"[yellow]{service.name} did not stop in time; killing it[/]")
            os.killpg(service.process.pid, signal.SIGKILL)
            service.process.wait()
