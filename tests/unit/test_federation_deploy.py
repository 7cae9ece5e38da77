"""What deploying the federation gateway relies on (docker-compose.yml, deploy/k8s): its keys
made by `tongban keys generate --workload federation`, a refusal in one line when they are
missing, `--help` without starting, and the health probe over its mutual TLS that compose's
healthcheck and Kubernetes' exec probes run."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.crypto.keyring import KeyRing
from tests.federation_gateway import GatewayProcess
from tooling.federation_pki import DevelopmentCA

ROOT = Path(__file__).resolve().parents[2]
SECRET = "a-ring-secret-for-this-test-only"


def python(*arguments: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *arguments],
        env={"PATH": os.environ.get("PATH", "/usr/bin"), "PYTHONPATH": str(ROOT), **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_keys_generate_makes_the_gateways_federation_key_and_nothing_else(
    tmp_path: Path,
) -> None:
    ring_dir = tmp_path / "ring"
    made = python(
        "-m",
        "tooling.cli",
        "keys",
        "generate",
        "--workload",
        "federation",
        "--ring",
        str(ring_dir),
        env={"KEY_RING_SECRET": SECRET, "TONGBAN_LANG": "en"},
        cwd=tmp_path,
    )
    assert made.returncode == 0, made.stderr
    assert sorted(p.name for p in (ring_dir / "private").iterdir()) == ["federation.json"]
    assert KeyRing(ring_dir, SECRET).signer("federation").kid == "federation#1"


def test_the_gateway_outside_development_without_its_key_refuses_in_one_line(
    tmp_path: Path,
) -> None:
    tls = DevelopmentCA(tmp_path / "ca").issue("34")
    refused = python(
        "-m",
        "services.federation",
        "--port",
        str(free_port()),
        env={
            "TONGBAN_ENV": "production",
            "KEY_RING_DIR": str(tmp_path / "empty-ring"),
            "KEY_RING_SECRET": SECRET,
            "PII_DIGEST_KEY": "a production digest key",
            "JWT_JWKS_URL": "https://idp.example/jwks",
            "FEDERATION_TLS_CERT": str(tls.cert),
            "FEDERATION_TLS_KEY": str(tls.key),
            "FEDERATION_TLS_CA": str(tls.ca),
        },
        cwd=tmp_path,
    )
    assert refused.returncode == 1
    message = " ".join(refused.stderr.split())
    assert "The federation service refuses to start" in message
    assert "tongban keys generate --workload federation" in message
    assert "Traceback" not in refused.stderr


def test_help_answers_without_starting(tmp_path: Path) -> None:
    answered = python("-m", "services.federation", "--help", env={}, cwd=tmp_path)
    assert answered.returncode == 0, answered.stderr
    assert "--host" in answered.stdout and "--port" in answered.stdout
    without_tls = python("-m", "services.federation", env={}, cwd=tmp_path)
    assert without_tls.returncode == 1
    assert "FEDERATION_TLS_CERT" in without_tls.stderr and "Traceback" not in without_tls.stderr


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[GatewayProcess]:
    # Its database on a port nothing listens on: alive, never ready.
    process = GatewayProcess(
        province="34",
        port=free_port(),
        database_url="postgresql+asyncpg://nobody@127.0.0.1:1/tongban_federation",
        work=tmp_path,
        tls=DevelopmentCA(tmp_path / "ca").issue("34"),
    )
    process.start()
    yield process
    process.stop()


def test_the_probe_asks_over_mutual_tls_alive_and_not_ready_without_its_database(
    gateway: GatewayProcess,
) -> None:
    env = {name: gateway.env()[name] for name in gateway.env() if name.startswith("FEDERATION_")}

    def probe(*arguments: str) -> subprocess.CompletedProcess[str]:
        return python("-m", "services.federation.probe", *arguments, env=env, cwd=gateway.work)

    alive = probe("/healthz")
    assert alive.returncode == 0, alive.stderr
    ready = probe("/readyz")
    assert ready.returncode == 1
    assert "federation gateway not healthy" in ready.stderr and "/readyz" in ready.stderr
    # A certificate file missing (a Secret not mounted): one line saying which, not a traceback.
    unmounted = python(
        "-m",
        "services.federation.probe",
        env={**env, "FEDERATION_TLS_CERT": "/nonexistent.pem"},
        cwd=gateway.work,
    )
    assert unmounted.returncode == 1
    assert "federation gateway not healthy" in unmounted.stderr
    assert "Traceback" not in unmounted.stderr
