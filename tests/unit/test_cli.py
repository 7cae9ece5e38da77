"""The `tongban` command as a developer uses it."""

from __future__ import annotations

import asyncio

from typer.testing import CliRunner

from shared.auth import decode_token
from shared.settings import Settings
from tooling.cli import app

runner = CliRunner()


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
    result = runner.invoke(app, ["token", "--role", "approver", "--locality", "hefei"])
    assert result.exit_code != 0 and "6-digit" in result.output


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
