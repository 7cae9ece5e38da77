"""A single-node Apache Kafka broker (KRaft, combined broker and controller) from Maven jars."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import errno
import functools
import hashlib
import hmac
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiokafka.errors import KafkaError
from pydantic import SecretStr
from rich.console import Console

from shared.messaging.kafka import KafkaSecurity, make_client
from tooling.infra._common import (
    InfrastructureError,
    ManagedProcess,
    file_lock,
    free_ports,
    say,
    tail_text,
)
from tooling.kafka_acl import AclTable, apply_acls
from tooling.kafka_principals import ADMIN_PRINCIPAL

# The one place the broker version is pinned (see ARCHITECTURE.md on why 3.9.x, not 4.x).
KAFKA_VERSION = "3.9.1"
MINIMUM_JAVA = 17
HEAP = "512m"
START_TIMEOUT_SECONDS = 90.0
MAVEN_TIMEOUT_SECONDS = 900.0

POM = Path(__file__).with_name("kafka-pom.xml")
_RESOLVED_STAMP = ".tongban-resolved"

_LOG4J = """\
log4j.rootLogger=INFO, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
# As in Kafka's own log4j.properties: per-request and partition state chatter only helps when
# debugging the broker itself.
log4j.logger.kafka.request.logger=WARN
log4j.logger.state.change.logger=WARN
"""

_INSTALL_JAVA_HINT = (
    "Install OpenJDK 17 or newer, e.g. `apt-get install -y openjdk-17-jre-headless` "
    "(or set JAVA_HOME), or set KAFKA_BOOTSTRAP_SERVERS to use an existing broker."
)


def cache_dir() -> Path:
    configured = os.environ.get("TONGBAN_CACHE_DIR")
    return Path(configured) if configured else Path.home() / ".cache" / "tongban"


@functools.cache
def java_executable() -> str:
    """The `java` to run the broker with, checked to be Java 17 or newer."""
    java_home = os.environ.get("JAVA_HOME")
    candidate = Path(java_home, "bin", "java") if java_home else None
    java = str(candidate) if candidate and candidate.is_file() else shutil.which("java")
    if java is None:
        raise InfrastructureError(
            f"Kafka needs Java, but no `java` was found. {_INSTALL_JAVA_HINT}"
        )
    try:
        probe = subprocess.run(
            [java, "-version"], capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise InfrastructureError(f"Cannot run {java} -version: {error}") from error
    # `java -version` writes to stderr: 'openjdk version "17.0.15" ...' or '"1.8.0_392"'.
    match = re.search(r'version "(\d+)(?:\.(\d+))?', probe.stderr + probe.stdout)
    if match is None:
        raise InfrastructureError(
            f"Cannot tell the Java version of {java}:\n{tail_text(probe.stderr + probe.stdout)}"
        )
    major = int(match[1])
    if major == 1 and match[2]:
        major = int(match[2])
    if major < MINIMUM_JAVA:
        raise InfrastructureError(
            f"Kafka {KAFKA_VERSION} needs Java {MINIMUM_JAVA} or newer; {java} is Java {major}. "
            + _INSTALL_JAVA_HINT
        )
    return java


def _resolution_stamp() -> str:
    # Re-resolve when the pom changes (another logging binding, say), not only on a new version.
    digest = hashlib.sha256(POM.read_bytes() + KAFKA_VERSION.encode()).hexdigest()
    return f"kafka {KAFKA_VERSION} pom {digest}\n"


def _is_resolved(libs: Path, stamp: str) -> bool:
    try:
        return (libs / _RESOLVED_STAMP).read_text() == stamp
    except OSError:
        return False


def kafka_jars(console: Console | None = None) -> Path:
    """The directory of the broker's runtime jars, resolved with Maven once and then cached.

    Cached in ${TONGBAN_CACHE_DIR:-~/.cache/tongban}/kafka-<version>/libs.
    """
    home = cache_dir() / f"kafka-{KAFKA_VERSION}"
    libs = home / "libs"
    stamp = _resolution_stamp()
    if _is_resolved(libs, stamp):
        return libs
    home.mkdir(parents=True, exist_ok=True)
    with file_lock(home / ".lock"):
        if _is_resolved(libs, stamp):  # another process resolved them while we waited
            return libs
        mvn = shutil.which("mvn")
        if mvn is None:
            raise InfrastructureError(
                f"Kafka's jars are not cached yet ({libs}) and resolving them needs Maven, but no "
                "`mvn` was found. Install it, e.g. `apt-get install -y maven`, or set "
                "KAFKA_BOOTSTRAP_SERVERS to use an existing broker."
            )
        java_executable()  # Maven needs Java too, and its own error about it is less clear
        say(console, f"Resolving Kafka {KAFKA_VERSION} jars with Maven (first run only)…")
        started = time.monotonic()
        with tempfile.TemporaryDirectory(prefix="resolve-", dir=home) as scratch:
            pom = Path(scratch, "pom.xml")
            shutil.copyfile(POM, pom)
            resolved = Path(scratch, "libs")
            command = [
                mvn,
                "-q",
                "-B",
                "-f",
                str(pom),
                "dependency:copy-dependencies",
                f"-DoutputDirectory={resolved}",
                "-DincludeScope=runtime",
                f"-Dkafka.version={KAFKA_VERSION}",
            ]
            try:
                result = subprocess.run(
                    command,
                    cwd=scratch,
                    stdin=subprocess.DEVNULL,
                    capture_output=True,
                    text=True,
                    timeout=MAVEN_TIMEOUT_SECONDS,
                    check=False,
                )
            except subprocess.TimeoutExpired as error:
                raise InfrastructureError(
                    f"Maven did not resolve the Kafka jars within {MAVEN_TIMEOUT_SECONDS:.0f} s."
                ) from error
            broker_jar = resolved / f"kafka_2.13-{KAFKA_VERSION}.jar"
            if result.returncode != 0 or not broker_jar.is_file():
                raise InfrastructureError(
                    f"Maven could not resolve org.apache.kafka:kafka_2.13:{KAFKA_VERSION} "
                    f"(exit code {result.returncode}); is Maven Central reachable?\n"
                    f"Command: {' '.join(command)}\n"
                    f"Last lines of its output:\n{tail_text(result.stdout + result.stderr)}"
                )
            (resolved / _RESOLVED_STAMP).write_text(stamp)
            if libs.exists():
                shutil.rmtree(libs)
            # Renamed into place whole, so an interrupted run never leaves a partial cache.
            resolved.rename(libs)
        count = sum(1 for _ in libs.glob("*.jar"))
        say(console, f"Resolved {count} Kafka jars in {time.monotonic() - started:.0f} s → {libs}")
    return libs


def random_cluster_id() -> str:
    """What `kafka-storage random-uuid` prints, without starting a JVM for it."""
    # org.apache.kafka.common.Uuid.randomUuid: 16 random bytes, URL-safe base64 without padding,
    # never the reserved zero/one ids and never starting with '-' (it would read as an option).
    while True:
        raw = secrets.token_bytes(16)
        text = base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")
        if not text.startswith("-") and raw not in (bytes(16), bytes(15) + b"\x01"):
            return text


def _escape_property(value: str) -> str:
    return value.replace("\\", "\\\\")


# The client listener: SASL/SCRAM over plain TCP on 127.0.0.1 (the hash is SHA-512; aiokafka,
# librdkafka/kcat and the Java client all speak it). Credentials live in the cluster metadata,
# written when the log directory is formatted.
SECURITY_PROTOCOL = "SASL_PLAINTEXT"
SASL_MECHANISM = "SCRAM-SHA-512"
SECRET_FILE = "kafka-secret"
_SCRAM_ITERATIONS = 4096  # Kafka's minimum and default for SCRAM-SHA-512


@dataclass(frozen=True)
class KafkaCredentials:
    """The passwords of the launcher's broker: each principal's is an HMAC of its name under a
    local secret, generated once and kept in the launcher's work directory (mode 600), so they
    stay the same from one `make run` to the next and are never written anywhere else."""

    secret: bytes = field(repr=False)
    security_protocol: str = SECURITY_PROTOCOL
    sasl_mechanism: str = SASL_MECHANISM

    @classmethod
    def load_or_create(cls, work_dir: Path) -> KafkaCredentials:
        path = work_dir / SECRET_FILE
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return cls.load(work_dir)
        with os.fdopen(descriptor, "w") as file:
            file.write(secrets.token_hex(32) + "\n")
        return cls.load(work_dir)

    @classmethod
    def load(cls, work_dir: Path) -> KafkaCredentials:
        path = work_dir / SECRET_FILE
        try:
            text = path.read_text().strip()
        except FileNotFoundError as error:
            raise InfrastructureError(
                f"No Kafka credentials yet ({path} is missing): they are made by the first "
                "`make run`."
            ) from error
        if len(text) < 32:
            raise InfrastructureError(f"{path} does not hold a usable secret; remove it.")
        return cls(text.encode("ascii"))

    def password(self, principal: str) -> str:
        digest = hmac.new(self.secret, f"kafka:{principal}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")

    def settings(self, principal: str = ADMIN_PRINCIPAL) -> dict[str, Any]:
        """Fields of shared.settings.Settings that make a process `principal` on this broker."""
        return {
            "kafka_security_protocol": self.security_protocol,
            "kafka_sasl_mechanism": self.sasl_mechanism,
            "kafka_username": principal,
            "kafka_password": SecretStr(self.password(principal)),
        }

    def environment(self, principal: str) -> dict[str, str]:
        """The same as environment variables, for a service process."""
        return {
            "KAFKA_SECURITY_PROTOCOL": self.security_protocol,
            "KAFKA_SASL_MECHANISM": self.sasl_mechanism,
            "KAFKA_USERNAME": principal,
            "KAFKA_PASSWORD": self.password(principal),
        }

    def client_security(self, principal: str = ADMIN_PRINCIPAL) -> KafkaSecurity:
        """aiokafka's keyword arguments for a client that is `principal`."""
        return {
            "security_protocol": self.security_protocol,
            "sasl_mechanism": self.sasl_mechanism,
            "sasl_plain_username": principal,
            "sasl_plain_password": self.password(principal),
        }

    def scram_argument(self, principal: str) -> str:
        """StorageTool's --add-scram value that creates `principal` at format time."""
        return (
            f"{self.sasl_mechanism}=[name={principal},password={self.password(principal)},"
            f"iterations={_SCRAM_ITERATIONS}]"
        )


def _jaas(module: str, **options: str) -> str:
    pairs = " ".join(f'{name}="{value}"' for name, value in options.items())
    return f"{module} required {pairs};"


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

    def _security_properties(self) -> dict[str, str]:
        admin = ADMIN_PRINCIPAL
        password = self.credentials.password(admin)
        scram = self.credentials.sasl_mechanism
        return {
            "listeners": (
                f"SASL_PLAINTEXT://127.0.0.1:{self.port},"
                f"CONTROLLER://127.0.0.1:{self.controller_port}"
            ),
            "advertised.listeners": f"SASL_PLAINTEXT://127.0.0.1:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "SASL_PLAINTEXT",
            "listener.security.protocol.map": (
                "SASL_PLAINTEXT:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT"
            ),
            # Clients: SCRAM, checked against the credentials in the cluster metadata. The node
            # talks to itself as the admin.
            "listener.name.sasl_plaintext.sasl.enabled.mechanisms": scram,
            "sasl.mechanism.inter.broker.protocol": scram,
            f"listener.name.sasl_plaintext.{scram.lower()}.sasl.jaas.config": _jaas(
                "org.apache.kafka.common.security.scram.ScramLoginModule",
                username=admin,
                password=password,
            ),
            # The controller listener cannot use SCRAM (its credentials live in the metadata the
            # controller serves), so PLAIN with the admin as its one static user: no anonymous
            # connection reaches the controller, let alone as a super user.
            "listener.name.controller.sasl.enabled.mechanisms": "PLAIN",
            "sasl.mechanism.controller.protocol": "PLAIN",
            "listener.name.controller.plain.sasl.jaas.config": _jaas(
                "org.apache.kafka.common.security.plain.PlainLoginModule",
                username=admin,
                password=password,
                **{f"user_{admin}": password},
            ),
            # Deny by default; the admin alone may do anything without an ACL.
            "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            "allow.everyone.if.no.acl.found": "false",
            "super.users": f"User:{admin}",
        }

    def _properties(self) -> dict[str, str]:
        return {
            "process.roles": "broker,controller",
            "node.id": "1",
            **self._security_properties(),
            # KIP-853 dynamic quorum, formatted with --standalone: this node is the only voter.
            "controller.quorum.bootstrap.servers": f"127.0.0.1:{self.controller_port}",
            "log.dirs": str(self.directory / "data"),
            "num.partitions": "3",
            "default.replication.factor": "1",
            "min.insync.replicas": "1",
            "auto.create.topics.enable": "true",
            "offsets.topic.replication.factor": "1",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            # The first consumer group creates __consumer_offsets (50 partitions by default)
            # and the first transactional producer __transaction_state; ten each is plenty
            # for one machine and makes that first join about half a second quicker here.
            "offsets.topic.num.partitions": "10",
            "transaction.state.log.num.partitions": "10",
            # Defaults sized for a server; a 2-core dev box or CI runner starts quicker with fewer
            # threads, and the log cleaner's 128 MiB dedupe buffer is wasted on test volumes.
            "num.network.threads": "2",
            "num.io.threads": "4",
            "background.threads": "4",
            "log.cleaner.dedupe.buffer.size": str(16 * 1024 * 1024),
        }

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
        # It holds the admin's password: readable by this user only.
        _write_private(
            config,
            "".join(f"{k}={_escape_property(v)}\n" for k, v in self._properties().items()),
        )
        (self.directory / "log4j.properties").write_text(_LOG4J)
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
                # Kafka's own defaults (kafka-run-class.sh), minus the perf-data file in /tmp.
                "-XX:+UseG1GC",
                "-XX:MaxGCPauseMillis=20",
                "-XX:InitiatingHeapOccupancyPercent=35",
                "-XX:+ExplicitGCInvokesConcurrent",
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
