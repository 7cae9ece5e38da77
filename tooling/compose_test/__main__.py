"""`python -m tooling.compose_test` (`make compose-test`); the package's docstring says what."""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TypeVar

import httpx
from rich.console import Console
from rich.table import Table

from tooling.compose_test import commands, images
from tooling.compose_test.engine import (
    EngineUnavailable,
    compose_command,
    docker,
    ensure_engine,
    run,
)
from tooling.compose_test.journey import window_to_hand_over
from tooling.infra._common import InfrastructureError

ROOT = images.ROOT
PROJECT = "tongbanci"  # not the user's own `docker-compose` project of this folder
HEALTHY_WITHIN_SECONDS = 420.0
T = TypeVar("T")
console = Console()
timings: list[tuple[str, float, str]] = []


def step(name: str, action: Callable[[], T], outcome: Callable[[T], str] = str) -> T:
    console.print(f"[bold]▶ {name}[/]")
    started = time.monotonic()
    result = action()
    seconds = time.monotonic() - started
    summary = outcome(result)
    timings.append((name, seconds, summary))
    console.print(f"  [green]✓[/] {seconds:.1f} s  {summary}", highlight=False)
    return result


def built(_: object) -> str:
    return "built"


def compose(files: list[str]) -> list[str]:
    return [*compose_command(), "-p", PROJECT, *(arg for f in files for arg in ("-f", f))]


def container_states(base: list[str]) -> list[dict[str, str]]:
    ids = run([*base, "ps", "-q"], cwd=ROOT).stdout.split()
    if not ids:
        return []
    fmt = (
        '{"name": "{{.Name}}", "status": "{{.State.Status}}", "exit": "{{.State.ExitCode}}", '
        '"health": "{{if .State.Health}}{{.State.Health.Status}}{{end}}"}'
    )
    lines = run([docker(), "inspect", "--format", fmt, *ids]).stdout.splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def wait_healthy(base: list[str]) -> str:
    deadline = time.monotonic() + HEALTHY_WITHIN_SECONDS
    while True:
        states = container_states(base)
        failed = [s for s in states if s["status"] == "exited" and s["exit"] != "0"]
        if failed:
            raise InfrastructureError(
                f"exited with an error: {', '.join(s['name'] for s in failed)}"
            )
        waiting = [
            s["name"].lstrip("/")
            for s in states
            if s["status"] != "exited" and s["health"] not in ("", "healthy")
        ]
        if states and not waiting:
            running = sum(s["status"] == "running" for s in states)
            done = len(states) - running
            return f"{running} running (every health check passing), {done} one-shot jobs done"
        if time.monotonic() > deadline:
            raise InfrastructureError(
                f"not healthy within {HEALTHY_WITHIN_SECONDS:.0f} s: {', '.join(waiting)}"
            )
        time.sleep(3)


def leftovers() -> str:
    label = f"label=com.docker.compose.project={PROJECT}"
    containers = run([docker(), "ps", "-aq", "--filter", label]).stdout.split()
    volumes = run([docker(), "volume", "ls", "-q", "--filter", label]).stdout.split()
    if containers or volumes:
        raise InfrastructureError(
            f"left behind: {len(containers)} containers, {len(volumes)} volumes"
        )
    return "no container and no volume of the project left"


def check_commands(image: str) -> str:
    found = list(commands.every_command())
    failures = []
    for command in found:
        ok, last = commands.starts(image, command)
        if not ok:
            failures.append(f"{command.where}: {' '.join(command.argv)} → {last}")
    if failures:
        raise InfrastructureError(
            "commands that do not start in the image:\n" + "\n".join(failures)
        )
    return f"{len(found)} distinct Kubernetes and compose commands answer --help in {image}"


def main() -> int:
    parser = argparse.ArgumentParser(prog="make compose-test", description=__doc__)
    parser.add_argument("--keep", action="store_true", help="leave the stack running afterwards")
    options = parser.parse_args()
    started = time.monotonic()
    try:
        version = step(
            "Docker engine",
            lambda: ensure_engine(ROOT / ".tongban" / "logs" / "dockerd.log"),
            lambda v: f"engine {v}",
        )
    except EngineUnavailable as why:
        console.print(f"[yellow]compose test skipped: no Docker engine can start here ({why}).[/]")
        return 0
    del version
    if step(
        "registry",
        images.registry_answers,
        lambda ok: (
            "official images pulled"
            if ok
            else "unreachable: base images made from Debian's packages"
        ),
    ):
        files, python_image = ["docker-compose.yml"], images.OFFICIAL_PYTHON
    else:
        files, python_image = ["docker-compose.yml", "docker-compose.ci.yml"], images.LOCAL_PYTHON
        step(f"base {images.DEBIAN_BASE} (debootstrap)", images.make_debian_base)
        for stand_in in images.STAND_INS:
            step(f"stand-in {stand_in.tag}", partial(images.build_stand_in, stand_in), built)
    step(
        f"image {images.TONGBAN_IMAGE} (classic builder)",
        lambda: images.build_tongban(python_image),
        lambda _: f"{images.image_size(images.TONGBAN_IMAGE) / 1e6:.0f} MB",
    )
    step(
        "Kubernetes and compose commands in the image",
        lambda: check_commands(images.TONGBAN_IMAGE),
    )
    base = compose(files)
    run([*base, "down", "-v", "--remove-orphans"], cwd=ROOT, timeout=300)
    outcome = 1
    try:
        step(
            "docker-compose up",
            lambda: run([*base, "up", "-d", "--no-build"], cwd=ROOT, timeout=900),
            lambda _: "started",
        )
        step("health checks", lambda: wait_healthy(base))
        reached = step(
            "journey: window → hand-over",
            lambda: asyncio.run(window_to_hand_over(base)),
            lambda r: (
                f"{r['application']} {r['status']}, "
                f"certificate {r['certificate']} {r['verification']}"
            ),
        )
        for key in ("timeline", "accepted after", "accepted to delivered", "federation gateway"):
            console.print(f"  {key}: {reached[key]}", highlight=False)
        outcome = 0
    except Exception:
        logs = subprocess.run(
            [*base, "logs", "--tail", "40", "--no-color"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        Path(ROOT / ".tongban" / "logs").mkdir(parents=True, exist_ok=True)
        (ROOT / ".tongban" / "logs" / "compose-test.log").write_text(logs.stdout + logs.stderr)
        console.print("[red]the containers' last lines: .tongban/logs/compose-test.log[/]")
        raise
    finally:
        if not options.keep:
            step(
                "docker-compose down -v",
                lambda: run([*base, "down", "-v", "--remove-orphans"], cwd=ROOT, timeout=300),
                lambda _: "stopped",
            )
            step("nothing left running", leftovers)
    table = Table(title="make compose-test")
    for column in ("step", "seconds", "result"):
        table.add_column(column)
    for name, seconds, summary in timings:
        table.add_row(name, f"{seconds:.1f}", summary)
    console.print(table)
    console.print(f"whole compose test: {time.monotonic() - started:.0f} s")
    return outcome


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (InfrastructureError, RuntimeError, OSError, httpx.HTTPError) as error:
        console.print(f"[red]compose test failed:[/] {error}", highlight=False)
        sys.exit(1)
