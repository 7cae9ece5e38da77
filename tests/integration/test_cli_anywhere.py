"""`tongban` run from another directory beside a running stack: it finds the stack's key ring,
database and broker from what the launcher wrote down (tooling.local_state), not from the
working directory, and nothing of them from the environment."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.harness import Stack
from tooling.infra import Infrastructure
from tooling.infra.kafka_credentials import SECRET_FILE
from tooling.local_state import STATE_FILE_VARIABLE, LocalStack, record

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def elsewhere(stack: Stack, infrastructure: Infrastructure, tmp_path: Path) -> dict[str, str]:
    """The environment of a shell in a directory outside the repository, beside this session's
    stack written down as `make run` writes its own (its launcher: this test process)."""
    credentials = infrastructure.kafka_credentials
    assert credentials is not None
    infra_dir = tmp_path / "infra"
    infra_dir.mkdir()
    (infra_dir / SECRET_FILE).write_text(credentials.secret.decode())
    settings = stack.settings
    state = record(
        LocalStack(
            pid=os.getpid(),
            kafka_bootstrap_servers=infrastructure.kafka_bootstrap_servers,
            database_url=infrastructure.database_url,
            infra_dir=str(infra_dir),
            settings={
                "tongban_env": "development",
                "key_ring_dir": settings.key_ring_dir,
                # This session's databases are named for the tests, not as `make run` names them.
                "routing_database_url": str(settings.routing_database_url),
            },
            urls={name: service.base_url for name, service in stack.services.items()},
        ),
        tmp_path / "stack.json",
    )
    (tmp_path / "work").mkdir()
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "PYTHONPATH": str(REPO_ROOT),
        "TONGBAN_LANG": "en",
        STATE_FILE_VARIABLE: str(state),
    }


def tongban(env: dict[str, str], cwd: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tooling.cli", *arguments],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_a_token_made_in_another_directory_is_accepted_by_the_services(
    stack: Stack, elsewhere: dict[str, str], tmp_path: Path
) -> None:
    made = tongban(
        elsewhere, tmp_path / "work", "token", "--role", "operator", "--locality", "340000"
    )
    assert made.returncode == 0, made.stderr
    async with stack.client("routing", made.stdout.strip()) as routing:
        answer = await routing.get("/v1/ops/outbox")
    assert answer.status_code == 200, answer.text
    # No key ring was made where it was run.
    assert not (tmp_path / "work" / ".tongban").exists()


async def test_audit_verify_in_another_directory_checks_the_stacks_ledger(
    stack: Stack, elsewhere: dict[str, str], tmp_path: Path
) -> None:
    verified = tongban(elsewhere, tmp_path / "work", "audit", "verify")
    output = verified.stdout + verified.stderr
    assert verified.returncode == 0, output
    assert "published checkpoints on the topic" in output
    assert "✓ ok" in output and "entries checked" in output
