"""What builds the Kubernetes overlays (deploy/k8s/overlays/*): `kubectl kustomize` when kubectl
is installed, else a standalone `kustomize build`. Debian's apt repositories carry no kubectl,
so when neither is there, `--prepare` tries apt-get (a distribution that has it) and then the Go
toolchain (`go install sigs.k8s.io/kustomize/kustomize/v5`, through the Go module proxy), into
${TONGBAN_CACHE_DIR:-~/.cache/tongban}/bin."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from rich.console import Console

from tooling.infra._common import InfrastructureError, apt_get_install, cache_dir, say, tail_text

KUSTOMIZE_MODULE = "sigs.k8s.io/kustomize/kustomize/v5"
KUSTOMIZE_VERSION = "v5.4.3"
GO_TIMEOUT_SECONDS = 900.0
_HINT = (
    "Install kubectl (https://kubernetes.io/docs/tasks/tools/) or kustomize, e.g. "
    f"`GOBIN=~/.cache/tongban/bin go install {KUSTOMIZE_MODULE}@{KUSTOMIZE_VERSION}`."
)


def bin_dir() -> Path:
    return cache_dir() / "bin"


def build_command(
    which: Callable[[str], str | None] = shutil.which, cached: Path | None = None
) -> list[str] | None:
    """The command that prints an overlay's resources (its directory appended), or None."""
    kubectl = which("kubectl")
    if kubectl:
        return [kubectl, "kustomize"]
    kustomize = which("kustomize")
    if kustomize:
        return [kustomize, "build"]
    local = cached if cached is not None else bin_dir() / "kustomize"
    if local.is_file() and os.access(local, os.X_OK):
        return [str(local), "build"]
    return None


def _go_install(console: Console | None) -> None:
    go = shutil.which("go") or (
        "/usr/local/go/bin/go" if Path("/usr/local/go/bin/go").is_file() else None
    )
    if go is None:
        raise InfrastructureError(
            f"Neither kubectl nor kustomize found, and no Go toolchain. {_HINT}"
        )
    say(console, f"Installing kustomize {KUSTOMIZE_VERSION} with `go install` (first run only)…")
    bin_dir().mkdir(parents=True, exist_ok=True)
    try:
        result = subprocess.run(
            [go, "install", f"{KUSTOMIZE_MODULE}@{KUSTOMIZE_VERSION}"],
            env={**os.environ, "GOBIN": str(bin_dir())},
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=GO_TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired as error:
        raise InfrastructureError(f"`go install` of kustomize timed out. {_HINT}") from error
    if result.returncode != 0:
        raise InfrastructureError(
            f"`go install {KUSTOMIZE_MODULE}@{KUSTOMIZE_VERSION}` failed "
            f"(exit code {result.returncode}). {_HINT}\n{tail_text(result.stdout + result.stderr)}"
        )


def ensure_kustomize(console: Console | None = None) -> list[str]:
    """The build command, installing kubectl (apt-get) or kustomize (go) when neither is there."""
    command = build_command()
    if command is not None:
        return command
    try:
        apt_get_install(["kubectl"], what="kubectl", hint=_HINT)
    except InfrastructureError as error:
        say(console, f"No kubectl from apt-get ({str(error).splitlines()[0]}); trying Go.")
        _go_install(console)
    command = build_command()
    if command is None:
        raise InfrastructureError(f"Still no kubectl or kustomize after installing. {_HINT}")
    return command
