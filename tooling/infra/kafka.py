"""A single-node Apache Kafka broker (KRaft, combined broker and controller) from Maven jars."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import hashlib
import os
import re
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from aiokafka.client import AIOKafkaClient
from aiokafka.errors import KafkaError
from rich.console import Console

from tooling.infra._common import (
    InfrastructureError,
    ManagedProcess,
    file_lock,
    free_ports,
    say,
    tail_text,
)

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


class KafkaBroker:
    """One broker+controller process with a fresh log directory under `directory`."""

    def __init__(
        self,
        directory: Path,
        log_path: Path,
        *,
        kept_log_path: Path | None = None,
        console: Console | None = None,
    ) -> None:
        self.directory = directory
        self.log_path = log_path
        self.kept_log_path = kept_log_path
        self.console = console
        self.port = self.controller_port = 0  # picked in prepare(), just before they are bound
        self.process: ManagedProcess | None = None
        self._java = ""
        self._libs = Path()

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _properties(self) -> dict[str, str]:
        return {
            "process.roles": "broker,controller",
            "node.id": "1",
            "listeners": (
                f"PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}"
            ),
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
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
        self.port, self.controller_port = free_ports(2)
        (self.directory / "data").mkdir(parents=True)
        config = self.directory / "server.properties"
        config.write_text(
            "".join(f"{k}={_escape_property(v)}\n" for k, v in self._properties().items())
        )
        (self.directory / "log4j.properties").write_text(_LOG4J)
        command = [
            self._java,
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
        try:
            result = subprocess.run(
                command,
                cwd=self.directory,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
        except subprocess.TimeoutExpired as error:
            raise InfrastructureError("Formatting the Kafka log directory timed out.") from error
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
        """Return once the broker answers a metadata request listing itself."""
        assert self.process is not None
        await self.process.wait_ready(
            lambda: _serves_metadata(self.bootstrap_servers),
            deadline=deadline,
            not_ready=f"The Kafka broker did not become ready on {self.bootstrap_servers} within "
            f"{START_TIMEOUT_SECONDS:.0f} s.",
        )


async def _serves_metadata(bootstrap_servers: str) -> bool:
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
    client = AIOKafkaClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=5000)
    try:
        await asyncio.wait_for(client.bootstrap(), 10.0)
        # A broker still starting answers with no brokers, or without itself unfenced.
        return bool(client.cluster.brokers())
    except (KafkaError, OSError, TimeoutError):
        return False
    finally:
        await client.close()
