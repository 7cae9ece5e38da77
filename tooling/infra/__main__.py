"""`python -m tooling.infra`: start Kafka and PostgreSQL, print where they are, wait for Ctrl-C."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from rich.console import Console

from tooling.infra import KAFKA_VERSION, InfrastructureError, kafka_jars, local_infrastructure
from tooling.infra.kafka_jars import java_executable
from tooling.infra.kustomize import ensure_kustomize
from tooling.infra.postgres import server_bindir
from tooling.infra.system_packages import REQUIRED, ensure_system_packages
from tooling.kafka_access import tongban_acl_table


def _interrupt(signum: int, frame: FrameType | None) -> None:
    # `kill <pid>` should stop the children as cleanly as Ctrl-C does.
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tooling.infra",
        description="Start a local Kafka broker and PostgreSQL cluster until Ctrl-C.",
    )
    parser.add_argument(
        "--work-dir", type=Path, default=None, help="default: <repo>/.tongban/infra"
    )
    parser.add_argument(
        "--prepare",
        action="store_true",
        help=(
            "only install what is missing (Kafka jars, PostgreSQL binaries, the system packages "
            "of printing, kubectl or kustomize) and exit"
        ),
    )
    arguments = parser.parse_args(argv)
    console = Console(stderr=True)
    if arguments.prepare:
        return _prepare(console)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        with local_infrastructure(
            arguments.work_dir, acl_table=tongban_acl_table(), console=console
        ) as infrastructure:
            # Plain stdout lines, so a shell can capture them; progress goes to stderr.
            print(f"KAFKA_BOOTSTRAP_SERVERS={infrastructure.kafka_bootstrap_servers}", flush=True)
            print(f"DATABASE_URL={infrastructure.database_url}", flush=True)
            if infrastructure.kafka_credentials is not None:
                credentials = infrastructure.kafka_credentials
                console.print(
                    f"Kafka clients: {credentials.security_protocol} "
                    f"{credentials.sasl_mechanism}, one principal each; passwords derive from "
                    f"the secret in the work directory (tongban kafka-credentials).",
                    style="dim",
                    markup=False,
                )
            console.print("Running; press Ctrl-C to stop.", style="dim")
            threading.Event().wait()
    except KeyboardInterrupt:
        pass
    except InfrastructureError as error:
        console.print(str(error), style="red", markup=False, highlight=False)
        return 1
    return 0


def _prepare(console: Console) -> int:
    """What `make test` and `make run` need before anything starts; quick when already there."""
    try:
        java_executable()
        libs = kafka_jars(console)
        bindir = server_bindir(console)
        ensure_system_packages(console)
        kustomize = ensure_kustomize(console)
    except InfrastructureError as error:
        console.print(str(error), style="red", markup=False, highlight=False)
        return 1
    console.print(f"Kafka {KAFKA_VERSION} jars: {libs}", style="dim", markup=False)
    console.print(f"PostgreSQL binaries: {bindir}", style="dim", markup=False)
    console.print(f"System packages: {', '.join(REQUIRED)}", style="dim", markup=False)
    console.print(
        f"Kubernetes overlays built with: {' '.join(kustomize)}", style="dim", markup=False
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
