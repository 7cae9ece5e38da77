"""`tongban run` (`make run`): the stack started and kept up until Ctrl-C or SIGTERM.

Its own module so the command line (tooling/cli.py) stays a list of commands: this is where the
stack's options (`--provinces`, `--scale`) meet the launcher (tooling.stack) and the supervisor.
"""

from __future__ import annotations

import signal
from pathlib import Path

import typer
from rich.console import Console

from shared.i18n import _
from tooling.infra import InfrastructureError
from tooling.stack import running_stack
from tooling.supervisor import supervise

REPO_ROOT = Path(__file__).resolve().parents[1]


def run_until_stopped(console: Console, *, provinces: int, scale: int) -> None:
    """Start Kafka, PostgreSQL, the services, the web apps, the simulators, the gateway (and
    with `provinces=2` Jiangsu's Tongban, with `scale` processes of each service); keep them up
    (a process that dies is started again) until Ctrl-C (or SIGTERM)."""

    def interrupt(*_signal: object) -> None:
        raise KeyboardInterrupt

    # Stopped as by Ctrl-C: the services stop gracefully and .tongban/stack.json is removed.
    signal.signal(signal.SIGTERM, interrupt)
    try:
        with running_stack(console, provinces=provinces, scale=scale) as stack:
            console.print(
                "\n"
                + _(
                    "Tongban is running. Try:\n"
                    "  curl -s http://127.0.0.1:8001/v1/catalog/items\n"
                    "  tongban token --role window_clerk --locality 341200 --window-id W341200-01\n"
                    "  curl -s http://127.0.0.1:8005/control/shipments   (the carrier simulator)\n"
                    "`tongban` finds this stack from any directory. Press Ctrl-C to stop."
                ),
                markup=False,
            )
            supervise(stack.processes(), console, REPO_ROOT / ".tongban" / "supervisor.json")
    except KeyboardInterrupt:
        console.print()
        console.print(_("Stopping…"))
    except InfrastructureError as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(1) from exc
    console.print(_("Stopped."))
