"""The Docker engine and the two clients the test drives: Debian's `docker.io` (the engine and
its client, started here if it is not running) and `docker-compose` 1.29."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from tooling.infra._common import InfrastructureError, apt_get_install, tail_text

# Debian's client matches Debian's engine; another client on PATH (a newer one without an
# engine, say) may speak an API version the engine does not.
DEBIAN_DOCKER = Path("/usr/bin/docker")
DEBIAN_DOCKERD = Path("/usr/sbin/dockerd")
PACKAGES = ("docker.io", "docker-compose", "debootstrap")
ENGINE_START_SECONDS = 60.0
_HINT = "Install Debian's docker.io, docker-compose and debootstrap, and start dockerd as root."


class EngineUnavailable(Exception):
    """No Docker engine can run here; the message says why (the test is skipped with it)."""


def docker() -> str:
    if DEBIAN_DOCKER.is_file():
        return str(DEBIAN_DOCKER)
    found = shutil.which("docker")
    if found is None:
        raise EngineUnavailable("no docker client")
    return found


def compose_command() -> list[str]:
    found = shutil.which("docker-compose")
    if found is None:
        raise EngineUnavailable("no docker-compose")
    return [found]


def _engine_answers() -> bool:
    try:
        probe = subprocess.run(
            [docker(), "info", "--format", "{{.ServerVersion}}"],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired, EngineUnavailable):
        return False
    return probe.returncode == 0


def ensure_engine(log_file: Path) -> str:
    """Install what is missing and start the engine if it is not running; its version."""
    missing = [
        package
        for package, present in (
            ("docker.io", DEBIAN_DOCKERD.is_file()),
            ("docker-compose", shutil.which("docker-compose") is not None),
            ("debootstrap", shutil.which("debootstrap") is not None),
        )
        if not present
    ]
    if missing:
        try:
            apt_get_install(missing, what=", ".join(missing), hint=_HINT)
        except InfrastructureError as error:
            raise EngineUnavailable(str(error).splitlines()[0]) from error
    if not _engine_answers():
        if os.geteuid() != 0:
            raise EngineUnavailable("the Docker engine is not running, and starting it needs root")
        log_file.parent.mkdir(parents=True, exist_ok=True)
        with log_file.open("ab") as log:
            subprocess.Popen(
                [str(DEBIAN_DOCKERD)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # it outlives this run, as a system service would
            )
        deadline = time.monotonic() + ENGINE_START_SECONDS
        while not _engine_answers():
            if time.monotonic() > deadline:
                raise EngineUnavailable(
                    f"dockerd did not answer within {ENGINE_START_SECONDS:.0f} s "
                    f"(its log: {log_file}):\n{tail_text(log_file.read_text(errors='replace'))}"
                )
            time.sleep(1)
    version = subprocess.run(
        [docker(), "info", "--format", "{{.ServerVersion}}"],
        capture_output=True,
        text=True,
        timeout=20,
        check=True,
    )
    return version.stdout.strip()


def run(
    command: Sequence[str],
    *,
    cwd: Path | None = None,
    timeout: float = 1800,
    env: dict[str, str] | None = None,
    input_text: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run `command`, its output captured; InfrastructureError with its tail when it fails."""
    try:
        result = subprocess.run(
            list(command),
            cwd=cwd,
            env=env,
            input=input_text,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as error:
        raise InfrastructureError(f"`{' '.join(command)}` took over {timeout:.0f} s") from error
    if result.returncode != 0:
        raise InfrastructureError(
            f"`{' '.join(command)}` failed (exit code {result.returncode}):\n"
            f"{tail_text(result.stdout + result.stderr)}"
        )
    return result
