"""Start the local Kafka broker and PostgreSQL cluster together, and stop them together."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import secrets
import shutil
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from rich.console import Console

from tooling.infra import kafka as kafka_module
from tooling.infra import postgres as postgres_module
from tooling.infra._common import (
    InfrastructureError,
    ManagedProcess,
    forget_exit_hook,
    kill_recorded_process,
    on_exit,
    run_coroutine_sync,
    say,
    stop_processes,
)
from tooling.infra.kafka import KafkaBroker
from tooling.infra.kafka_credentials import KafkaCredentials
from tooling.infra.kafka_jars import KAFKA_VERSION
from tooling.infra.postgres import EXTERNAL_DIR_NOTE, PostgresCluster
from tooling.kafka_acl import AclTable
from tooling.kafka_principals import ADMIN_PRINCIPAL

_RUN_PREFIX = "run-"
_LOG_NAMES = ("kafka.log", "postgres.log")


@dataclass(frozen=True)
class Infrastructure:
    """Where the services find Kafka and the PostgreSQL server."""

    kafka_bootstrap_servers: str  # "127.0.0.1:PORT"
    # Server-level SQLAlchemy URL; each service derives its own database from it.
    database_url: str  # "postgresql+asyncpg://tongban@127.0.0.1:PORT/postgres"
    # The passwords of the launcher's broker (SASL/SCRAM, one principal per service and per
    # locality's approval system); None for a broker from KAFKA_BOOTSTRAP_SERVERS, whose
    # clients take KAFKA_SECURITY_PROTOCOL, KAFKA_USERNAME... from the environment.
    kafka_credentials: KafkaCredentials | None = None
    # The processes it started ("kafka", "postgres"), for `make run`'s supervisor; none of a
    # broker or server given in the environment.
    processes: Mapping[str, ManagedProcess] = field(default_factory=dict)

    def kafka_settings(self, principal: str = ADMIN_PRINCIPAL) -> dict[str, Any]:
        """Settings fields that make a client `principal` on this broker (the admin, a super
        user, unless told); empty for a broker the launcher did not start."""
        if self.kafka_credentials is None:
            return {}
        return self.kafka_credentials.settings(principal)


class _Component(Protocol):
    process: ManagedProcess | None

    def prepare(self) -> None: ...

    def launch(self) -> None: ...

    async def wait_ready(self, deadline: float) -> None: ...


def default_work_dir() -> Path:
    # tooling/infra/launcher.py → the repository root is two levels above tooling/.
    return Path(__file__).resolve().parents[2] / ".tongban" / "infra"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _sweep_stale_runs(work_dir: Path) -> None:
    """Remove what runs of dead launchers left behind (a SIGKILLed parent runs no cleanup)."""
    for run_dir in work_dir.glob(f"{_RUN_PREFIX}*"):
        try:
            owner = int(run_dir.name.split("-")[1])
        except (IndexError, ValueError):
            continue
        if _pid_alive(owner):
            continue
        for pid_file in (run_dir / "kafka.pid", run_dir / "postgres.pid"):
            kill_recorded_process(pid_file)
        with contextlib.suppress(OSError):
            external = Path((run_dir / EXTERNAL_DIR_NOTE).read_text().strip())
            if external.name.startswith("tongban-pg-"):
                shutil.rmtree(external, ignore_errors=True)
        shutil.rmtree(run_dir, ignore_errors=True)


def _link_logs(run_dir: Path, work_dir: Path) -> None:
    """Point work_dir/kafka.log etc. at this run's live logs, so `tail -f` has a stable path."""
    for name in _LOG_NAMES:
        if not (run_dir / name).exists():
            continue
        temporary = work_dir / f".{name}.{run_dir.name}"
        with contextlib.suppress(OSError):
            temporary.unlink(missing_ok=True)
            temporary.symlink_to(Path(run_dir.name) / name)
            temporary.replace(work_dir / name)


def _keep_logs(run_dir: Path, work_dir: Path) -> None:
    # The last run's logs outlive its run directory, for reading after a failure.
    for name in _LOG_NAMES:
        with contextlib.suppress(FileNotFoundError):
            (run_dir / name).replace(work_dir / name)


def _prepare_and_launch(components: list[_Component]) -> None:
    # Maven, the storage-format JVM and initdb take seconds each, so they run side by side, and
    # each process is launched as soon as its own preparation is done. Launching stays on this
    # thread: the children's parent-death signal is tied to the thread that forks them.
    errors: list[BaseException] = []
    with concurrent.futures.ThreadPoolExecutor(
        len(components), thread_name_prefix="tongban-infra"
    ) as pool:
        preparing = {pool.submit(component.prepare): component for component in components}
        for future in concurrent.futures.as_completed(preparing):
            error = future.exception()
            if error is not None:
                errors.append(error)
            elif not errors:
                preparing[future].launch()
    # An InfrastructureError explains itself; anything else is a bug and re-raised as it is.
    errors.sort(key=lambda error: not isinstance(error, InfrastructureError))
    if errors:
        raise errors[0]


def _start(
    kafka: KafkaBroker | None,
    postgres: PostgresCluster | None,
    run_dir: Path,
    work_dir: Path,
    console: Console | None,
) -> None:
    started = time.monotonic()
    components: list[_Component] = [c for c in (kafka, postgres) if c is not None]
    _prepare_and_launch(components)
    _link_logs(run_dir, work_dir)

    async def ready(component: _Component, limit: float, what: str) -> None:
        await component.wait_ready(started + limit)
        say(console, f"{what} ({time.monotonic() - started:.1f} s)")

    async def all_ready() -> None:
        waits = []
        if kafka is not None:
            waits.append(
                ready(
                    kafka,
                    kafka_module.START_TIMEOUT_SECONDS,
                    f"Kafka {KAFKA_VERSION} ready on {kafka.bootstrap_servers} "
                    f"({kafka.credentials.security_protocol} {kafka.credentials.sasl_mechanism}, "
                    f"{len(kafka.acl_table.bindings)} ACLs, "
                    f"{len(kafka.acl_table.topics)} topics)",
                )
            )
        if postgres is not None:
            waits.append(
                ready(
                    postgres,
                    postgres_module.START_TIMEOUT_SECONDS,
                    f"PostgreSQL {postgres.version} ready on 127.0.0.1:{postgres.port}",
                )
            )
        await asyncio.gather(*waits)

    run_coroutine_sync(all_ready)


@contextlib.contextmanager
def local_infrastructure(
    work_dir: Path | None = None,
    *,
    acl_table: AclTable,
    console: Console | None = None,
    kafka_port: int = 0,
    kafka: bool = True,
    database_url: str | None = None,
    own_broker: bool = False,
) -> Iterator[Infrastructure]:
    """Start what is not already provided, yield, then stop what it started.

    The broker listens on `kafka_port` (0: a free port) with SASL/SCRAM and enforces
    `acl_table` (tooling.kafka_access.tongban_acl_table(), which the caller collects from the
    services' declarations: the launcher imports no service); the principals' passwords come
    from a secret kept in work_dir.

    If KAFKA_BOOTSTRAP_SERVERS is set, it is used and no broker is started; if DATABASE_URL is
    set, it is used and no PostgreSQL is started. `kafka=False` starts PostgreSQL alone (the
    use-case tests need no broker; kafka_bootstrap_servers is then empty). Default work_dir:
    <repo>/.tongban/infra. Every start gets a fresh Kafka log directory and PostgreSQL data
    directory, removed on stop; the last run's kafka.log and postgres.log stay in work_dir.

    Runs its children in their own process groups and stops them on leaving the block, also on
    an exception or KeyboardInterrupt, and at interpreter exit if the block was never left.
    Raises InfrastructureError when something needed is missing or does not start.

    `database_url` names a PostgreSQL server to use whatever DATABASE_URL says; `own_broker`
    starts a broker whatever KAFKA_BOOTSTRAP_SERVERS says (a second province's, beside the
    first's: tooling.second_province).
    """
    kafka_given = "" if own_broker else os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "").strip()
    database_given = database_url or os.environ.get("DATABASE_URL", "").strip()
    if (kafka_given or not kafka) and database_given:
        say(console, "Using KAFKA_BOOTSTRAP_SERVERS and DATABASE_URL from the environment.")
        yield Infrastructure(kafka_given if kafka else "", database_given)
        return

    work_dir = Path(work_dir if work_dir is not None else default_work_dir()).absolute()
    work_dir.mkdir(parents=True, exist_ok=True)
    _sweep_stale_runs(work_dir)
    run_dir = work_dir / f"{_RUN_PREFIX}{os.getpid()}-{secrets.token_hex(3)}"
    run_dir.mkdir()

    broker = None
    if not kafka:
        kafka_given = ""
    elif kafka_given:
        say(console, f"Using Kafka at {kafka_given} (KAFKA_BOOTSTRAP_SERVERS).")
    else:
        broker = KafkaBroker(
            run_dir / "kafka",
            run_dir / "kafka.log",
            credentials=KafkaCredentials.load_or_create(work_dir),
            acl_table=acl_table,
            port=kafka_port,
            kept_log_path=work_dir / "kafka.log",
            console=console,
        )
    postgres = None
    if database_given:
        say(console, "Using the PostgreSQL server in DATABASE_URL.")
    else:
        postgres = PostgresCluster(
            run_dir,
            run_dir / "postgres.log",
            kept_log_path=work_dir / "postgres.log",
            console=console,
        )

    stopped = False

    def stop() -> None:
        nonlocal stopped
        if stopped:
            return
        stopped = True
        processes = [c.process for c in (broker, postgres) if c is not None and c.process]
        if any(process.alive() for process in processes):
            say(console, "Stopping the local infrastructure…")
        began = time.monotonic()
        try:
            stop_processes(processes)
        finally:
            if postgres is not None:
                postgres.remove_external_directory()
            _keep_logs(run_dir, work_dir)
            shutil.rmtree(run_dir, ignore_errors=True)
        if processes:
            say(console, f"Stopped ({time.monotonic() - began:.1f} s); logs in {work_dir}")

    on_exit(stop)
    try:
        _start(broker, postgres, run_dir, work_dir, console)
        yield Infrastructure(
            kafka_bootstrap_servers=broker.bootstrap_servers if broker else kafka_given,
            database_url=postgres.database_url if postgres else database_given,
            kafka_credentials=broker.credentials if broker else None,
            processes={
                name: component.process
                for name, component in (("kafka", broker), ("postgres", postgres))
                if component is not None and component.process is not None
            },
        )
    finally:
        try:
            stop()
        finally:
            forget_exit_hook(stop)
