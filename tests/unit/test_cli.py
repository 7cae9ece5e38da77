"""The `tongban` command as a developer uses it."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shared.auth import decode_token
from shared.settings import Settings, get_settings
from tooling.cli import app
from tooling.infra import free_ports
from tooling.local_state import STATE_FILE_VARIABLE, LocalStack, cli_settings, record

runner = CliRunner()
REPO_ROOT = Path(__file__).resolve().parents[2]


def test_token_prints_a_bearer_token_with_the_requested_claims() -> None:
    result = runner.invoke(
        app,
        ["token", "--role", "window_clerk", "--locality", "341200", "--window-id", "W341200-01"],
    )
    assert result.exit_code == 0, result.output
    token = result.output.strip()
    principal = asyncio.run(decode_token(Settings(tongban_env="development"), token))
    assert (principal.role, principal.locality, principal.window_id) == (
        "window_clerk",
        "341200",
        "W341200-01",
    )


def test_token_refuses_a_clerk_without_a_window_and_an_unknown_role() -> None:
    no_window = runner.invoke(app, ["token", "--role", "window_clerk", "--locality", "341200"])
    assert no_window.exit_code != 0 and "window" in no_window.output
    bad_role = runner.invoke(app, ["token", "--role", "mayor", "--locality", "341200"])
    assert bad_role.exit_code != 0 and "role" in bad_role.output


def test_token_refuses_a_locality_that_is_not_a_six_digit_code() -> None:
    arguments = ["token", "--role", "approver", "--locality", "hefei"]
    result = runner.invoke(app, arguments, env={"TONGBAN_LANG": "en"})
    assert result.exit_code != 0 and "6-digit" in result.output
    # In Chinese unless asked otherwise.
    chinese = runner.invoke(app, arguments, env={"TONGBAN_LANG": None, "LANG": None})
    assert chinese.exit_code != 0 and "6 位行政区划代码" in chinese.output


def test_serve_refuses_to_start_outside_development_on_default_secrets() -> None:
    import subprocess
    import sys

    env = {"PATH": "/usr/bin:/bin", "TONGBAN_ENV": "production", "HOME": "/tmp"}
    result = subprocess.run(
        [sys.executable, "-m", "tooling.cli", "serve", "intake", "--port", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    message = " ".join(result.stderr.split())
    assert "refuses to start outside development mode" in message
    assert "KEY_RING_SECRET" in message and "JWT_JWKS_URL" in message


@pytest.fixture
def fresh_settings() -> Iterator[None]:
    """get_settings() read again from the environment a test set (and after it)."""
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def unreachable_stack(path: Path) -> tuple[Path, int, int]:
    """A stack written down whose launcher runs (this process) but whose broker and database
    listen nowhere: the state file, the Kafka port, the PostgreSQL port."""
    kafka_port, database_port = free_ports(2)
    state = record(
        LocalStack(
            pid=os.getpid(),
            kafka_bootstrap_servers=f"127.0.0.1:{kafka_port}",
            database_url=f"postgresql+asyncpg://tongban@127.0.0.1:{database_port}/postgres",
            infra_dir=None,
            settings={"tongban_env": "development"},
        ),
        path / "stack.json",
    )
    return state, kafka_port, database_port


def run_elsewhere(
    cwd: Path, state: Path, *arguments: str, **env: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tooling.cli", *arguments],
        cwd=cwd,
        env={
            "PATH": "/usr/bin:/bin",
            "HOME": str(cwd),
            "PYTHONPATH": str(REPO_ROOT),
            STATE_FILE_VARIABLE: str(state),
            **env,
        },
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_an_unreachable_broker_or_database_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    state, kafka_port, database_port = unreachable_stack(tmp_path)
    verify = run_elsewhere(tmp_path, state, "audit", "verify")
    assert verify.returncode == 1
    assert verify.stderr.strip().splitlines() == [
        f"✗ Kafka（127.0.0.1:{kafka_port}）未响应。请在 `make run` 运行期间执行（在任何目录下都能"
        "找到它），或设置 KAFKA_BOOTSTRAP_SERVERS（以及 KAFKA_USERNAME、KAFKA_PASSWORD）。"
    ]
    migrate = run_elsewhere(tmp_path, state, "migrate", "routing", TONGBAN_LANG="en")
    assert migrate.returncode == 1
    (line,) = migrate.stderr.strip().splitlines()
    assert line.startswith("✗ PostgreSQL did not answer (") and str(database_port) in line
    assert line.endswith("or set DATABASE_URL.")


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    state, _kafka, _database = unreachable_stack(tmp_path)
    verify = run_elsewhere(tmp_path, state, "audit", "verify", TONGBAN_DEBUG="1")
    assert verify.returncode != 0
    assert "Traceback" in verify.stderr and "KafkaConnectionError" in verify.stderr


def test_the_key_ring_is_the_repositorys_wherever_a_command_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_settings: None
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("KEY_RING_DIR", raising=False)
    monkeypatch.setenv(STATE_FILE_VARIABLE, str(tmp_path / "no-stack.json"))
    assert Path(cli_settings().key_ring_dir) == REPO_ROOT / ".tongban" / "keys"


def test_a_running_stack_fills_only_what_the_environment_leaves_unset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_settings: None
) -> None:
    state, _kafka, database_port = unreachable_stack(tmp_path)
    for name in ("DATABASE_URL", "KEY_RING_DIR", "TONGBAN_ENV"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(STATE_FILE_VARIABLE, str(state))
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "kafka.example:9092")
    settings = cli_settings()
    assert settings.kafka_bootstrap_servers == "kafka.example:9092"  # the environment's
    assert f":{database_port}/" in settings.database_url  # the stack's
    assert settings.development


def test_a_stack_that_stopped_without_cleaning_up_is_ignored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_settings: None
) -> None:
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    state = record(
        LocalStack(
            pid=int(gone.stdout),
            kafka_bootstrap_servers="127.0.0.1:1",
            database_url="postgresql+asyncpg://tongban@127.0.0.1:1/postgres",
            infra_dir=None,
        ),
        tmp_path / "stack.json",
    )
    for name in ("DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(STATE_FILE_VARIABLE, str(state))
    assert cli_settings().kafka_bootstrap_servers == Settings().kafka_bootstrap_servers


def test_outside_a_repository_without_key_ring_dir_a_token_says_what_to_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_settings: None
) -> None:
    import tooling.local_state

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("KEY_RING_DIR", raising=False)
    monkeypatch.setenv(STATE_FILE_VARIABLE, str(tmp_path / "no-stack.json"))
    monkeypatch.setattr(tooling.local_state, "in_repository", lambda: False)
    arguments = ["token", "--role", "approver", "--locality", "340100"]
    result = runner.invoke(app, arguments, env={"TONGBAN_LANG": "en"})
    assert result.exit_code == 1
    assert "set KEY_RING_DIR to the services' key ring" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / ".tongban").exists()  # no key ring made here
