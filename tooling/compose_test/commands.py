"""Every Kubernetes Deployment's and Job's command, and every command docker-compose.yml runs in
Tongban's image, started in the built image with `--help`, so a wrong entrypoint, module or
sub-command fails here rather than in a cluster."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tooling.compose_test.engine import docker

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
COMPOSE = ROOT / "docker-compose.yml"
WORKLOADS = {"Deployment", "StatefulSet", "Job", "CronJob"}
ENTRYPOINT = ["tongban"]  # the Dockerfile's


@dataclass(frozen=True)
class Command:
    where: str  # file: kind/name/container
    argv: tuple[str, ...]


def _pod_spec(document: dict[str, Any]) -> dict[str, Any]:
    spec = document.get("spec") or {}
    if document["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    pod: dict[str, Any] = spec["template"]["spec"]
    return pod


def workload_commands() -> Iterator[Command]:
    """Each container of Tongban's image in the base and the overlays, once per command line."""
    seen: set[tuple[str, ...]] = set()
    for path in sorted(K8S.rglob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if not isinstance(document, dict) or document.get("kind") not in WORKLOADS:
                continue
            pod = _pod_spec(document)
            for container in pod.get("initContainers", []) + pod.get("containers", []):
                if not str(container.get("image", "")).startswith("tongban"):
                    continue
                argv = tuple(container.get("command") or ENTRYPOINT) + tuple(
                    str(arg) for arg in container.get("args", [])
                )
                if argv in seen:
                    continue
                seen.add(argv)
                name = f"{document['kind']}/{document['metadata']['name']}/{container['name']}"
                yield Command(f"{path.relative_to(ROOT)}: {name}", argv)


def compose_commands() -> Iterator[Command]:
    """Each service of docker-compose.yml that runs Tongban's own image (built from the
    Dockerfile), with its entrypoint (the image's unless it names one) and command."""
    services = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))["services"]
    for name, service in services.items():
        if "build" not in service:
            continue
        argv = tuple(service.get("entrypoint") or ENTRYPOINT) + tuple(
            str(arg) for arg in service.get("command") or ()
        )
        yield Command(f"docker-compose.yml: {name}", argv)


def every_command() -> Iterator[Command]:
    """Kubernetes' and compose's, each command line once."""
    seen: set[tuple[str, ...]] = set()
    for command in (*workload_commands(), *compose_commands()):
        if command.argv not in seen:
            seen.add(command.argv)
            yield command


def starts(image: str, command: Command) -> tuple[bool, str]:
    """`docker run IMAGE <command> --help`: whether it answered, and its last line if not."""
    entry, *rest = command.argv
    result = subprocess.run(
        [
            docker(),
            "run",
            "--rm",
            "--network",
            "none",
            "--entrypoint",
            entry,
            image,
            *rest,
            "--help",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = (result.stdout + result.stderr).strip()
    return result.returncode == 0, output.splitlines()[-1] if output else ""
