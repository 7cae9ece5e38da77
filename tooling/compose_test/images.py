"""The images the compose test runs: the official pinned ones when a registry answers, otherwise
stand-ins made here from Debian's packages (deploy/ci-images/README.md); and Tongban's own image,
built with the classic builder."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tooling.compose_test.engine import docker, run
from tooling.infra.kafka_jars import kafka_jars

ROOT = Path(__file__).resolve().parents[2]
CI_IMAGES = ROOT / "deploy" / "ci-images"
OFFICIAL_PYTHON = "python:3.11.13-slim-bookworm"
DEBIAN_BASE = "tongban-ci/debian:bookworm"
LOCAL_PYTHON = "tongban-ci/python:3.11-bookworm"
TONGBAN_IMAGE = "tongban:local"
DEBIAN_MIRROR = os.environ.get("DEBIAN_MIRROR", "http://deb.debian.org/debian")
PULL_SECONDS = 60.0


def host_ca_bundle() -> Path | None:
    """The CA bundle this host's HTTPS clients trust (an intercepting proxy's CA among them)."""
    for candidate in (os.environ.get("SSL_CERT_FILE"), "/etc/ssl/certs/ca-certificates.crt"):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None


def image_exists(name: str) -> bool:
    probe = subprocess.run(
        [docker(), "image", "inspect", name], capture_output=True, timeout=30, check=False
    )
    return probe.returncode == 0


def registry_answers() -> bool:
    """Whether the official Python base can be pulled (then the others are taken to be too)."""
    if image_exists(OFFICIAL_PYTHON):
        return True
    try:
        pulled = subprocess.run(
            [docker(), "pull", OFFICIAL_PYTHON],
            capture_output=True,
            timeout=PULL_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return False
    return pulled.returncode == 0


def make_debian_base() -> str:
    """`debootstrap --variant=minbase bookworm`, imported as DEBIAN_BASE (once: kept after)."""
    if image_exists(DEBIAN_BASE):
        return "kept"
    with tempfile.TemporaryDirectory(prefix="tongban-rootfs-") as rootfs:
        run(
            ["debootstrap", "--variant=minbase", "bookworm", rootfs, DEBIAN_MIRROR],
            timeout=1800,
        )
        # debootstrap keeps the packages it downloaded and apt's lists: not in an image.
        for cache in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for leftover in Path(rootfs, cache).glob("*"):
                if leftover.is_file():
                    leftover.unlink()
        tar = subprocess.Popen(["tar", "-C", rootfs, "-c", "."], stdout=subprocess.PIPE)
        try:
            imported = subprocess.run(
                [docker(), "import", "-", DEBIAN_BASE],
                stdin=tar.stdout,
                capture_output=True,
                timeout=600,
                check=False,
            )
        finally:
            if tar.stdout is not None:
                tar.stdout.close()
            tar.wait()
        if imported.returncode != 0 or tar.returncode != 0:
            raise RuntimeError(f"docker import failed: {imported.stderr.decode(errors='replace')}")
    return "made"


def _with_kafka_jars(context: Path) -> None:
    shutil.copytree(kafka_jars(), context / "libs", ignore=shutil.ignore_patterns(".tongban-*"))


def _with_host_ca(context: Path) -> None:
    (context / "build-ca").mkdir(exist_ok=True)
    bundle = host_ca_bundle()
    if bundle is not None:
        shutil.copyfile(bundle, context / "build-ca" / "host-ca.crt")


@dataclass(frozen=True)
class StandIn:
    tag: str
    folder: str
    prepare: Callable[[Path], None] | None = None


STAND_INS = (
    StandIn(LOCAL_PYTHON, "python"),
    StandIn("tongban-ci/kafka:3.9.1", "kafka", _with_kafka_jars),
    StandIn("tongban-ci/postgres:15-bookworm", "postgres"),
    StandIn("tongban-ci/s3:moto", "s3", _with_host_ca),
    StandIn("tongban-ci/otlp-sink", "otlp-sink"),
)


def build_stand_in(stand_in: StandIn) -> None:
    """Build one stand-in from its folder (and what `prepare` adds to a copy of it)."""
    with tempfile.TemporaryDirectory(prefix="tongban-image-") as tmp:
        context = Path(tmp) / stand_in.folder
        shutil.copytree(CI_IMAGES / stand_in.folder, context)
        if stand_in.prepare is not None:
            stand_in.prepare(context)
        run(
            [docker(), "build", "-q", "-t", stand_in.tag, str(context)],
            env={**os.environ, "DOCKER_BUILDKIT": "0"},
            timeout=1800,
        )


def build_tongban(python_image: str) -> None:
    """Tongban's image from the repository with the classic builder; the host's CA bundle is in
    the context for the build only (deploy/build-ca/README.md)."""
    copied = ROOT / "deploy" / "build-ca" / "host-ca.crt"
    bundle = host_ca_bundle()
    if bundle is not None:
        shutil.copyfile(bundle, copied)
    try:
        run(
            [
                docker(),
                "build",
                "--build-arg",
                f"PYTHON_IMAGE={python_image}",
                "-t",
                TONGBAN_IMAGE,
                str(ROOT),
            ],
            env={**os.environ, "DOCKER_BUILDKIT": "0"},
            timeout=2400,
        )
    finally:
        copied.unlink(missing_ok=True)


def image_size(name: str) -> int:
    inspected = run([docker(), "image", "inspect", "--format", "{{.Size}}", name])
    return int(inspected.stdout.strip())
