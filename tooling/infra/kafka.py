"""A single-node Apache Kafka broker (KRaft, combined broker and controller) from Maven jars:
its process, from the formatted log directory to a broker that answers and enforces the ACL
table. What it runs on is kafka_jars.py, its configuration kafka_config.py, its principals'
passwords kafka_credentials.py."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from aiokafka.errors import KafkaError
from rich.console import Console

from shared.messaging.kafka import KafkaSecurity, make_client
from tooling.infra._common import InfrastructureError, ManagedProcess, free_ports, tail_text
from tooling.infra.kafka_config import (
    LOG4J_PROPERTIES,
    properties_text,
    random_cluster_id,
    server_properties,
)
from tooling.infra.kafka_credentials import KafkaCredentials
from tooling.infra.kafka_jars import java_executable, kafka_jars
from tooling.kafka_acl import AclTable, apply_acls
from tooling.kafka_principals import ADMIN_PRINCIPAL

HEAP = "512m"
START_TIMEOUT_SECONDS = 90.0


def _java_argfile_line(argument: str) -> str:
    # java's @argfiles: one argument per line, quoted, backslash escapes.
    return '"' + argument.replace("\\", "\\\\").replace('"', '\\"') + '"\n'


def check_port_free(port: int, variable: str) -> None:
    """Fail clearly if something listens on 127.0.0.1:`port` already."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as error:
            if error.errno != errno.EADDRINUSE:
                raise
            raise InfrastructureError(
                f"Port {port} on 127.0.0.1 is taken (another `make run`, or a Kafka of your "
                f"own?). Set {variable} to another port ({variable}=0 picks a free one), or "
                "KAFKA_BOOTSTRAP_SERVERS to use the broker that listens there."
            ) from error


class KafkaBroker:
    """One broker+controller process with a fresh log directory under `directory`.

    Secured: clients authenticate with SASL/SCRAM (`credentials`; one principal each, created
    at format time) and the StandardAuthorizer denies what no ACL allows; only the admin
    principal is a super user. `acl_table` is applied once the broker is up (`secure`).
    """

    def __init__(
        self,
        directory: Path,
        log_path: Path,
        *,
        credentials: KafkaCredentials,
        acl_table: AclTable,
        port: int = 0,
        port_variable: str = "KAFKA_PORT",
        kept_log_path: Path | None = None,
        console: Console | None = None,
    ) -> None:
        self.directory = directory
        self.log_path = log_path
        self.kept_log_path = kept_log_path
        self.console = console
        self.credentials = credentials
        self.acl_table = acl_table
        self.requested_port = port  # 0: a free port
        self.port_variable = port_variable
        self.port = self.controller_port = 0  # picked in prepare(), just before they are bound
        self.process: ManagedProcess | None = None
        self._java = ""
        self._libs = Path()

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def principals(self) -> Sequence[str]:
        return (ADMIN_PRINCIPAL, *self.acl_table.principals)

    def prepare(self) -> None:
        """Everything before the broker process: Java, jars, config, storage format."""
        self._java = java_executable()
        self._libs = kafka_jars(self.console)
        if self.requested_port:
            check_port_free(self.requested_port, self.port_variable)
            self.port, (self.controller_port,) = self.requested_port, free_ports(1)
        else:
            self.port, self.controller_port = free_ports(2)
        (self.directory / "data").mkdir(parents=True)
        config = self.directory / "server.properties"
        properties = server_properties(
            self.directory,
            port=self.port,
            controller_port=self.controller_port,
            credentials=self.credentials,
        )
        # It holds the admin's password: readable by this user only.
        _write_private(config, properties_text(properties))
        (self.directory / "log4j.properties").write_text(LOG4J_PROPERTIES)
        arguments = [
            # A one-shot tool: C1 only and no perf-data file start it faster.
            "-XX:TieredStopAtLevel=1",
            "-XX:-UsePerfData",
            *self._common_jvm_options(),
            "kafka.tools.StorageTool",
            "format",
            "--cluster-id",
            random_cluster_id(),
            "--config",
            str(config),
            "--standalone",
        ]
        # Every principal's SCRAM credentials go into the bootstrap metadata. The passwords go
        # through an @argfile (mode 600, removed at once), never on a command line that `ps`
        # shows to every user of the machine.
        for principal in self.principals:
            arguments += ["--add-scram", self.credentials.scram_argument(principal)]
        argfile = self.directory / "format.args"
        _write_private(argfile, "".join(_java_argfile_line(a) for a in arguments))
        try:
            result = subprocess.run(
                [self._java, f"@{argfile}"],
                cwd=self.directory,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
        except subprocess.TimeoutExpired as error:
            raise InfrastructureError("Formatting the Kafka log directory timed out.") from error
        finally:
            argfile.unlink(missing_ok=True)
        if result.returncode != 0:
            raise InfrastructureError(
                f"Formatting the Kafka log directory failed (exit code {result.returncode}):\n"
                f"{tail_text(result.stdout + result.stderr)}"
            )

    def _common_jvm_options(self) -> list[str]:
        return [
            "-Djava.awt.headless=true",
            f"-Dlog4j.configuration={(self.directory / 'log4j.properties').as_uri()}",
            "-cp",
            f"{self._libs}{os.sep}*",
        ]

    def launch(self) -> None:
        self.process = ManagedProcess(
            "Kafka broker",
            [
                self._java,
                f"-Xms{HEAP}",
                f"-Xmx{HEAP}",
                # Not kafka-run-class.sh's G1: on a 2-core dev box or CI runner, a heap this small
                # is collected in a few milliseconds by the serial collector, which runs no
                # concurrent GC threads beside the broker's own (measured: less CPU idle and per
                # record). Two JIT compiler threads, not the default's three, for the same cores.
                "-XX:+UseSerialGC",
                # The fixed heap made resident at start, as production brokers run: its memory
                # is then known from the first second (make soak judges growth from there) and
                # no page fault of a first-used heap page falls on a request.
                "-XX:+AlwaysPreTouch",
                "-XX:CICompilerCount=2",
                "-XX:+ExitOnOutOfMemoryError",
                "-XX:-UsePerfData",
                *self._common_jvm_options(),
                "kafka.Kafka",
                str(self.directory / "server.properties"),
            ],
            log_path=self.log_path,
            kept_log_path=self.kept_log_path,
            pid_file=self.directory.parent / "kafka.pid",
            cwd=self.directory,
            # SIGTERM runs the broker's shutdown hook: a controlled shutdown, flushed logs.
            stop_signal=signal.SIGTERM,
        )
        self.process.start()

    async def wait_ready(self, deadline: float) -> None:
        """Return once the broker answers the admin's metadata request listing itself, and
        enforces the ACL table (its topics created)."""
        assert self.process is not None
        admin = self.credentials.client_security()
        await self.process.wait_ready(
            lambda: _serves_metadata(self.bootstrap_servers, admin),
            deadline=deadline,
            not_ready=f"The Kafka broker did not become ready on {self.bootstrap_servers} within "
            f"{START_TIMEOUT_SECONDS:.0f} s.",
        )
        try:
            await asyncio.wait_for(
                apply_acls(self.bootstrap_servers, self.acl_table, security=admin),
                max(deadline - time.monotonic(), 10.0),
            )
        except (KafkaError, OSError, TimeoutError) as error:
            raise self.process.failure(
                f"Applying the ACL table to the Kafka broker failed: {error!r}"
            ) from error


def _write_private(path: Path, text: str) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(text)


async def _serves_metadata(bootstrap_servers: str, security: KafkaSecurity) -> bool:
    host, _, port = bootstrap_servers.rpartition(":")
    try:
        # A plain connect first: cheap, and keeps aiokafka from logging errors while the
        # listener is not up yet.
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, int(port)), 1.0)
    except (OSError, TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    client = make_client(bootstrap_servers, security=security, request_timeout_ms=5000)
    try:
        await asyncio.wait_for(client.bootstrap(), 10.0)
        # A broker still starting answers with no brokers, or without itself unfenced.
        return bool(client.cluster.brokers())
    except (KafkaError, OSError, TimeoutError):
        return False
    finally:
        await client.close()
