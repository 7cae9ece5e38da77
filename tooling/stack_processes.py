"""The processes of a local stack besides the four services (tooling.stack): the carrier
simulator, the audit watcher, and the web apps served by `tongban serve <name>` (the console,
the portal, the consultation service)."""

from __future__ import annotations

import signal
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx

from shared.settings import SERVICES
from tooling.carrier_simulator.control import simulator_command, webhook_url_of
from tooling.infra import ManagedProcess

REPO_ROOT = Path(__file__).resolve().parents[1]


@dataclass
class ServiceProcess:
    name: str
    port: int
    process: ManagedProcess

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def audit_watcher_process(env: dict[str, str], log_dir: Path) -> ManagedProcess:
    """`tongban audit watch` (tooling/audit_watch.py): routing's ledger checkpoints, followed
    from the topic's beginning into the watcher's own database (tongban_audit). It reads as its
    own principal (tongban-audit-watch), which may read the checkpoints topic and nothing else."""
    return ManagedProcess(
        "audit watcher",
        [sys.executable, "-m", "tooling.cli", "audit", "watch"],
        log_path=log_dir / "audit-watch.log",
        pid_file=log_dir / "audit-watch.pid",
        cwd=REPO_ROOT,
        env=env,
        stop_signal=signal.SIGTERM,
    )


def carrier_simulator_process(
    ports: dict[str, int], env: dict[str, str], log_dir: Path
) -> ServiceProcess:
    """The carrier simulator (tooling/carrier_simulator/), reporting to delivery's webhook."""
    delivery_url = f"http://127.0.0.1:{ports['delivery']}"
    return ServiceProcess(
        "carrier",
        ports["carrier"],
        ManagedProcess(
            "carrier simulator",
            simulator_command(ports["carrier"], webhook_url_of(delivery_url)),
            log_path=log_dir / "carrier.log",
            pid_file=log_dir / "carrier.pid",
            cwd=REPO_ROOT,
            env=env,
            stop_signal=signal.SIGTERM,
        ),
    )


def console_process_of(ports: dict[str, int], env: dict[str, str], log_dir: Path) -> ServiceProcess:
    """The operator console (`tongban serve console`), pointed at the services of this stack.
    It reads consumer lag and dead letters and replays them on Kafka: the operators' tool acts
    as the launcher's admin principal, as `tongban dlq` does."""
    return web_app_process("console", "operator console", ports, env, log_dir)


def web_app_process(
    name: str, title: str, ports: dict[str, int], env: dict[str, str], log_dir: Path
) -> ServiceProcess:
    """`tongban serve <name>` (the console, the portal), pointed at the services of this stack."""
    urls = {f"{service.upper()}_URL": f"http://127.0.0.1:{ports[service]}" for service in SERVICES}
    return ServiceProcess(
        name,
        ports[name],
        ManagedProcess(
            title,
            [sys.executable, "-m", "tooling.cli", "serve", name, "--port", str(ports[name])],
            log_path=log_dir / f"{name}.log",
            pid_file=log_dir / f"{name}.pid",
            cwd=REPO_ROOT,
            env=env | urls,
            stop_signal=signal.SIGTERM,
        ),
    )


async def answers_ready(http: httpx.AsyncClient, url: str) -> bool:
    """`url`'s /readyz says 200 (its consumers started, its database reachable); a process not
    listening yet is not ready. The probe of every local process the launchers wait for."""
    try:
        return (await http.get(f"{url}/readyz")).status_code == 200
    except httpx.HTTPError:
        return False


async def until_ready(
    process: ManagedProcess, http: httpx.AsyncClient, url: str, *, deadline: float, not_ready: str
) -> None:
    """Until `url` answers /readyz (answers_ready), polled every 0.3 s; `not_ready` raised once
    `deadline` (time.monotonic()) passes, or at once if the process died."""

    async def ready() -> bool:
        return await answers_ready(http, url)

    await process.wait_ready(ready, deadline=deadline, not_ready=not_ready, every=0.3)
