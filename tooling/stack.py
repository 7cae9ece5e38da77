"""The whole stack as real processes on this machine: what `make run` and `make demo` start.

Kafka and PostgreSQL come from the infrastructure launcher (or from KAFKA_BOOTSTRAP_SERVERS /
DATABASE_URL); then each service's database is created and migrated, and the four services run
as their own processes (`tongban serve <service>`), the way they are deployed.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from rich.console import Console

from shared.crypto.keyring import made_by_an_older_version
from shared.db.migrations import upgrade
from shared.settings import AUDIT_DATABASE, PORTAL_DATABASE, SERVICES, Settings, database_name
from shared.sms import REPORT_PATH
from tooling.carrier_simulator.control import SimulatorControl
from tooling.federation_run import Federation, running_federation
from tooling.infra import (
    InfrastructureError,
    ManagedProcess,
    ensure_databases,
    local_infrastructure,
    stop_processes,
)
from tooling.kafka_access import tongban_acl_table
from tooling.kafka_principals import ADMIN_PRINCIPAL, AUDIT_WATCH_PRINCIPAL
from tooling.local_state import LocalStack, forget, record
from tooling.ports import kafka_port, service_ports
from tooling.scale import extra_instances, start_instances
from tooling.seed import seed_demo_agreements
from tooling.sms_gateway.control import SmsGatewayControl, gateway_process
from tooling.stack_processes import (
    REPO_ROOT,
    ServiceProcess,
    audit_watcher_process,
    carrier_simulator_process,
    console_process_of,
    web_app_process,
)

START_TIMEOUT_SECONDS = 90.0
STOP_GRACE_SECONDS = 20.0


class StackError(InfrastructureError):
    """The stack could not be brought up or kept up; the message says why."""


@dataclass
class RunningStack:
    settings: Settings
    services: dict[str, ServiceProcess]
    # The carrier simulator (邮政寄递) of local runs, its own process; delivery posts to it.
    carrier: ServiceProcess | None = None
    # The operator console (services/console), over the services' APIs.
    console: ServiceProcess | None = None
    # `tongban audit watch`: routing's ledger checkpoints, kept in a store of its own.
    watcher: ManagedProcess | None = None
    # The SMS gateway simulator (短信) of local runs, its own process; the portal sends through it.
    sms: ServiceProcess | None = None
    # The applicants' portal (services/portal, 全程网办).
    portal: ServiceProcess | None = None
    # 视频会商 (services/consultation): video calls of windows with the competent locality.
    consultation: ServiceProcess | None = None
    # The broker and PostgreSQL the launcher started ("kafka", "postgres").
    infrastructure: Mapping[str, ManagedProcess] = field(default_factory=dict)
    # 跨省通办: the federation gateway, and with `--provinces 2` Jiangsu's Tongban.
    federation: Federation | None = None
    # `make run SCALE=2`: the services' second (third...) instances, "intake-2"... (tooling.scale).
    instances: dict[str, ServiceProcess] = field(default_factory=dict)

    @property
    def urls(self) -> dict[str, str]:
        return {name: service.url for name, service in self.services.items()}

    def processes(self) -> dict[str, ManagedProcess]:
        """Every process of the stack by name: what `make run` supervises (tooling.supervisor)."""
        extras = [
            s
            for s in (self.carrier, self.sms, self.console, self.portal, self.consultation)
            if s is not None
        ]
        named = {**self.infrastructure, **{n: s.process for n, s in self.services.items()}}
        named |= {extra.name: extra.process for extra in extras}
        named |= self.federation.processes() if self.federation is not None else {}
        named |= {name: instance.process for name, instance in self.instances.items()}
        return named | ({"audit": self.watcher} if self.watcher is not None else {})

    def check_alive(self) -> None:
        for process in self.processes().values():
            if not process.alive():
                raise process.failure(f"The {process.name} stopped.")


def _set_aside_an_old_development_ring(directory: Path, console: Console) -> None:
    """A development key ring of an older Tongban (unsalted wrapping key) is moved aside, not
    refused: its keys are development keys, and the services make new ones."""
    if made_by_an_older_version(directory):
        aside = directory.with_name(f"{directory.name}.old-format-{int(time.time())}")
        directory.rename(aside)
        console.print(f"[yellow]![/] development key ring of an older format moved to {aside}")


@contextmanager
def running_stack(
    console: Console, *, work_dir: Path | None = None, provinces: int = 1, scale: int = 1
) -> Iterator[RunningStack]:
    """The stack; with `provinces=2` Jiangsu's Tongban beside it (tooling.federation_run);
    `scale` instances of intake, routing, approval and delivery (tooling.scale)."""
    work_dir = work_dir or REPO_ROOT / ".tongban"
    log_dir = work_dir / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    ports = service_ports()
    with local_infrastructure(
        work_dir / "infra",
        acl_table=tongban_acl_table(),
        console=console,
        kafka_port=kafka_port(),
    ) as infra:
        env = {
            **os.environ,
            "KAFKA_BOOTSTRAP_SERVERS": infra.kafka_bootstrap_servers,
            "DATABASE_URL": infra.database_url,
            "PYTHONUNBUFFERED": "1",
            # A developer's machine: the built-in secrets and the local token issuer are fine.
            "TONGBAN_ENV": os.environ.get("TONGBAN_ENV", "development"),
            # Delivery posts certificates through the carrier simulator started below.
            "CARRIER_BASE_URL": f"http://127.0.0.1:{ports['carrier']}",
            # Texts go out through the SMS gateway simulator started below.
            "SMS_GATEWAY_URL": f"http://127.0.0.1:{ports['sms']}",
            "SUPERVISOR_STATE_FILE": str(work_dir / "supervisor.json"),  # the console shows it
        }
        settings = Settings(
            kafka_bootstrap_servers=infra.kafka_bootstrap_servers,
            database_url=infra.database_url,
            tongban_env=env["TONGBAN_ENV"],
            **infra.kafka_settings(),
        )
        if settings.development:
            _set_aside_an_old_development_ring(Path(REPO_ROOT, settings.key_ring_dir), console)
        credentials = infra.kafka_credentials
        if credentials is not None:
            console.print(
                f"[green]✓[/] kafka     {infra.kafka_bootstrap_servers}  "
                f"({credentials.security_protocol}, {credentials.sasl_mechanism}; "
                "`tongban kafka-credentials --locality CODE` for an approval system)"
            )
        with console.status("Creating and migrating the service databases…"):
            ensure_databases(
                infra.database_url,
                [
                    *(database_name(s) for s in SERVICES),
                    AUDIT_DATABASE,
                    PORTAL_DATABASE,
                    database_name("consultation"),
                ],
            )
            for service in SERVICES:
                upgrade(service, settings.service_database_url(service))
            upgrade("portal", settings.portal_database())
            upgrade("consultation", settings.service_database_url("consultation"))
        # The launcher's own process handling: its own process group, SIGTERM to stop (each
        # service then finishes the record in hand, flushes its producer and commits), and
        # killed by the kernel if this process dies without cleaning up.
        services: dict[str, ServiceProcess] = {
            service: ServiceProcess(
                service,
                ports[service],
                ManagedProcess(
                    f"{service} service",
                    [
                        sys.executable,
                        "-m",
                        "tooling.cli",
                        "serve",
                        service,
                        "--port",
                        str(ports[service]),
                    ],
                    log_path=log_dir / f"{service}.log",
                    pid_file=log_dir / f"{service}.pid",
                    cwd=REPO_ROOT,
                    # Each service is its own Kafka principal, allowed what its channels need.
                    env=env | (credentials.environment(service) if credentials else {}),
                    stop_signal=signal.SIGTERM,
                ),
            )
            for service in SERVICES
        }
        instances = extra_instances(services, scale, log_dir)
        carrier = carrier_simulator_process(ports, env, log_dir)
        # The SMS gateway simulator; its delivery reports go to the portal once the stack has one.
        report_url = (
            f"http://127.0.0.1:{ports['portal']}{REPORT_PATH}" if "portal" in ports else None
        )
        sms = ServiceProcess(
            "sms",
            ports["sms"],
            gateway_process(ports["sms"], report_url, env=env, log_dir=log_dir, cwd=REPO_ROOT),
        )
        console_process = console_process_of(
            ports,
            env | (credentials.environment(ADMIN_PRINCIPAL) if credentials else {}),
            log_dir,
        )
        # The applicants' portal: intake's online routes, the SMS gateway, and the facts it
        # notifies applicants of, read from Kafka as its own principal.
        portal = web_app_process(
            "portal",
            "applicants' portal",
            ports,
            env | (credentials.environment("portal") if credentials else {}),
            log_dir,
        )
        # 视频会商: its own Kafka principal (it publishes its channel), routing's agreements.
        consultation = web_app_process(
            "consultation",
            "video consultation",
            ports,
            env | (credentials.environment("consultation") if credentials else {}),
            log_dir,
        )
        # The watcher is a principal of its own that may only read the checkpoints.
        watcher = audit_watcher_process(
            env | (credentials.environment(AUDIT_WATCH_PRINCIPAL) if credentials else {}),
            log_dir,
        )
        federation_exit = ExitStack()
        try:
            carrier.process.start()
            sms.process.start()
            stack = RunningStack(
                settings,
                services,
                carrier,
                console_process,
                watcher,
                sms,
                portal,
                consultation,
                infra.processes,
                instances=instances,
            )
            # Routing first: intake reads routing's rules (and the seeded agreements) to their
            # end before it serves, so a fresh stack accepts at once.
            services["routing"].process.start()
            with console.status("Starting routing and granting the demo trust agreements…"):
                asyncio.run(_start_routing_and_seed(stack))
            # Once routing has made the checkpoints topic: the watcher follows it from there.
            watcher.start()
            for name, service_process in services.items():
                if name != "routing":
                    service_process.process.start()
            with console.status("Starting intake, approval and delivery…"):
                asyncio.run(_wait_ready(stack))
                asyncio.run(
                    _wait_simulator_ready(
                        carrier, SimulatorControl(carrier.url).ready, "carrier simulator"
                    )
                )
                asyncio.run(
                    _wait_simulator_ready(sms, SmsGatewayControl(sms.url).ready, "SMS gateway")
                )
            if instances:
                with console.status(f"Starting {len(instances)} more service instances…"):
                    start_instances(instances)
            console_process.process.start()
            portal.process.start()
            consultation.process.start()
            with console.status("Starting the operator console, the portal, the consultations…"):
                asyncio.run(_wait_console_ready(console_process))
                asyncio.run(_wait_console_ready(portal))
                asyncio.run(_wait_console_ready(consultation))
            web = [carrier, sms, console_process, portal, consultation]
            for running in [*services.values(), *instances.values(), *web]:
                console.print(
                    f"[green]✓[/] {running.name:<9} {running.url}  "
                    f"(log: {running.process.log_path})"
                )
            console.print(f"[green]✓[/] {'audit':<9} watching  (log: {watcher.log_path})")
            federation = running_federation(console, infra, env, work_dir, provinces, settings)
            stack.federation = federation_exit.enter_context(federation)
            # Written down for the `tongban` commands run from any directory (tooling.local_state).
            record(
                LocalStack(
                    pid=os.getpid(),
                    kafka_bootstrap_servers=infra.kafka_bootstrap_servers,
                    database_url=infra.database_url,
                    infra_dir=str(work_dir / "infra") if credentials is not None else None,
                    settings={
                        "tongban_env": env["TONGBAN_ENV"],
                        "key_ring_dir": str(Path(REPO_ROOT, settings.key_ring_dir).resolve()),
                        **stack.federation.recorded_settings(),
                    },
                    urls={
                        running.name: running.url
                        for running in [
                            *services.values(),
                            *web,
                            *stack.federation.shown().values(),
                        ]
                    },
                )
            )
            yield stack
        finally:
            forget()
            federation_exit.close()  # Jiangsu and the gateways first
            stop_processes(
                [
                    watcher,
                    consultation.process,
                    portal.process,
                    console_process.process,
                    carrier.process,
                    sms.process,
                    *(s.process for s in instances.values()),
                    *(s.process for s in services.values()),
                ],
                grace=STOP_GRACE_SECONDS,
            )


async def _wait_console_ready(console_process: ServiceProcess) -> None:
    async with httpx.AsyncClient(timeout=2) as http:

        async def ready() -> bool:
            try:
                return (await http.get(f"{console_process.url}/healthz")).status_code == 200
            except httpx.HTTPError:
                return False

        await console_process.process.wait_ready(
            ready,
            deadline=time.monotonic() + START_TIMEOUT_SECONDS,
            not_ready=f"The operator console was not ready on {console_process.url}.",
            every=0.3,
        )


async def _wait_simulator_ready(
    simulator: ServiceProcess, ready: Callable[[], Awaitable[bool]], what: str
) -> None:
    await simulator.process.wait_ready(
        ready,
        deadline=time.monotonic() + START_TIMEOUT_SECONDS,
        not_ready=f"The {what} was not ready on {simulator.url}.",
        every=0.2,
    )


async def _start_routing_and_seed(stack: RunningStack) -> None:
    await _wait_ready(stack, only=["routing"])
    await seed_demo_agreements(stack.services["routing"].url, stack.settings)


async def _wait_ready(stack: RunningStack, only: list[str] | None = None) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    async with httpx.AsyncClient(timeout=2) as http:

        def serves(service: ServiceProcess) -> Callable[[], Awaitable[bool]]:
            async def ready() -> bool:
                try:
                    return (await http.get(f"{service.url}/readyz")).status_code == 200
                except httpx.HTTPError:
                    return False

            return ready

        await asyncio.gather(
            *(
                service.process.wait_ready(
                    serves(service),
                    deadline=deadline,
                    not_ready=f"The {service.name} service was not ready on {service.url} "
                    f"within {START_TIMEOUT_SECONDS:.0f} s.",
                    every=0.3,
                )
                for name, service in stack.services.items()
                if only is None or name in only
            )
        )
