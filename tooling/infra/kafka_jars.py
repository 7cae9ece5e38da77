"""What the local broker runs on: a Java 17 or newer, and Kafka's jars resolved with Maven once
(kafka-pom.xml) and cached, re-resolved when the version or the pom changes."""

from __future__ import annotations

import functools
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from rich.console import Console

from tooling.infra._common import InfrastructureError, cache_dir, file_lock, say, tail_text

# The one place the broker version is pinned (see ARCHITECTURE.md on why 3.9.x, not 4.x).
KAFKA_VERSION = "3.9.1"
MINIMUM_JAVA = 17
MAVEN_TIMEOUT_SECONDS = 900.0

POM = Path(__file__).with_name("kafka-pom.xml")
_RESOLVED_STAMP = ".tongban-resolved"

_INSTALL_JAVA_HINT = (
    "Install OpenJDK 17 or newer, e.g. `apt-get install -y openjdk-17-jre-headless` "
    "(or set JAVA_HOME), or set KAFKA_BOOTSTRAP_SERVERS to use an existing broker."
)


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
