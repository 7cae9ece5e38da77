"""The `tongban` command: local tokens, running the stack, the demo, migrations, contracts,
the audit ledger's verification, the consumers' dead letters."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, cast

import httpx
import typer
from aiokafka.errors import KafkaConnectionError, KafkaError
from pydantic import ValidationError
from rich.console import Console
from rich.text import Text
from sqlalchemy.exc import DBAPIError
from typer.core import TyperGroup

from shared.auth import ROLES, Role, mint_token
from shared.crypto.keyring import KeyRingError
from shared.crypto.trust import TrustListError
from shared.errors import DomainError
from shared.i18n import _
from shared.settings import SERVICES, InsecureConfiguration, Settings, get_settings
from tooling import dlq, federation_cli, kafka_access, keys
from tooling.local_state import LocalStateMissing, cli_settings, database_hint, kafka_hint
from tooling.run_options import ProvincesOption, ScaleOption

console = Console(stderr=True)
REPO_ROOT = Path(__file__).resolve().parents[1]

# What a command may meet in the ordinary course (nothing listening, a missing key ring, a
# setting refused...): it ends in one line saying why and what to do, not in a traceback.
EXPECTED_FAILURES: tuple[type[BaseException], ...] = (
    LocalStateMissing,
    InsecureConfiguration,
    KeyRingError,
    TrustListError,
    DomainError,
    KafkaError,
    DBAPIError,
    OSError,
    httpx.HTTPError,
    ValidationError,
    ValueError,
)


def failure_reason(failure: BaseException) -> str:
    """One line: what went wrong and, when something could not be reached, what to set."""
    if isinstance(failure, DomainError):
        return failure.message
    if isinstance(failure, KafkaConnectionError):
        return _(
            "Kafka at {address} did not answer. {hint}",
            address=_configured(lambda settings: settings.kafka_bootstrap_servers),
            hint=kafka_hint(),
        )
    if isinstance(failure, KafkaError):
        return _(
            "Kafka did not answer ({reason}). {hint}",
            reason=_first_line(failure),
            hint=kafka_hint(),
        )
    if isinstance(failure, DBAPIError | ConnectionError | socket.gaierror | TimeoutError):
        cause = failure.orig if isinstance(failure, DBAPIError) else failure
        return _(
            "PostgreSQL did not answer ({reason}). {hint}",
            reason=_first_line(cause),
            hint=database_hint(),
        )
    if isinstance(failure, httpx.HTTPError):
        return _("A Tongban service did not answer ({reason}).", reason=_first_line(failure))
    if isinstance(failure, ValidationError):
        first = failure.errors()[0]
        where = ".".join(str(part) for part in first["loc"]).upper()
        return _("The setting {name} is not valid: {reason}.", name=where, reason=first["msg"])
    return _first_line(failure)


def _configured(read: Callable[[Settings], str]) -> str:
    try:
        return read(cli_settings())
    except EXPECTED_FAILURES:
        return "?"


def _first_line(failure: BaseException | None) -> str:
    text = str(failure).strip() if failure is not None else ""
    # asyncpg's errors wrapped by SQLAlchemy read "<class '...Error'>: the reason".
    if text.startswith("<class "):
        text = text.partition(": ")[2] or text
    return text.splitlines()[0] if text else type(failure).__name__


class TongbanCommand(TyperGroup):
    """Every `tongban` command: an expected failure is one line on stderr and exit code 1
    (`--debug` or TONGBAN_DEBUG=1: its traceback instead)."""

    def invoke(self, ctx: Any) -> Any:  # typer's own (vendored) click.Context
        try:
            return super().invoke(ctx)
        except EXPECTED_FAILURES as failure:
            if ctx.params.get("debug"):
                raise
            console.print(Text(f"✗ {failure_reason(failure)}", style="red"), soft_wrap=True)
            raise typer.Exit(1) from None


app = typer.Typer(
    cls=TongbanCommand,
    help="Tongban (通办): province-wide 'handled anywhere' government services.",
    no_args_is_help=True,
)


@app.callback()
def main(
    debug: Annotated[
        bool,
        typer.Option(
            "--debug", envvar="TONGBAN_DEBUG", help="Show a failure's traceback, not one line"
        ),
    ] = False,
) -> None:
    """Tongban (通办): province-wide 'handled anywhere' government services."""
    if not debug and not logging.getLogger().handlers:
        # The libraries' own complaints (aiokafka's connection errors, an unclosed client at
        # exit) would otherwise reach stderr beside the one line; `serve` and `audit watch`
        # configure logging of their own.
        logging.getLogger().addHandler(logging.NullHandler())


@app.command()
def token(
    role: Annotated[str, typer.Option(help=f"One of: {', '.join(ROLES)}")],
    locality: Annotated[
        str, typer.Option(help="6-digit administrative division code, e.g. 341200")
    ],
    window_id: Annotated[
        str | None, typer.Option("--window-id", help="Window clerks: e.g. W341200-01")
    ] = None,
    sub: Annotated[str | None, typer.Option(help="Subject (user id); generated if omitted")] = None,
    hours: Annotated[int, typer.Option(help="Validity in hours")] = 12,
) -> None:
    """Print a bearer token for local use, signed with the key ring's development issuer key
    (which services trust in development mode only)."""
    from datetime import timedelta

    if role not in ROLES:
        raise typer.BadParameter(
            _("the role must be one of {roles}", roles=", ".join(ROLES)), param_hint="--role"
        )
    if len(locality) != 6 or not locality.isdigit():
        raise typer.BadParameter(
            _("a locality is a 6-digit code such as 341200"), param_hint="--locality"
        )
    if role == "window_clerk" and not window_id:
        raise typer.BadParameter(_("a window clerk needs --window-id"), param_hint="--window-id")
    typer.echo(
        mint_token(
            cli_settings().model_copy(update={"tongban_env": "development"}),
            role=cast(Role, role),
            locality=locality,
            window_id=window_id,
            sub=sub,
            ttl=timedelta(hours=hours),
        )
    )


@app.command()
def serve(
    service: Annotated[str, typer.Argument(help="a service, console, or portal")],
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1")] = 0,
    host: Annotated[str, typer.Option(help="Interface to listen on")] = "127.0.0.1",
) -> None:
    """Run one service (HTTP API, outbox relay and consumers) in this process; `console` is the
    operator console (web pages over the services' APIs), `portal` the applicants' portal."""
    import uvicorn

    from shared.http_server import HTTP_PROTOCOL
    from shared.settings import DEFAULT_PORTS
    from shared.telemetry import configure_logging

    if service not in (known := (*SERVICES, "console", "portal", "consultation")):
        hint = _("one of {services}", services=", ".join(known))
        raise typer.BadParameter(hint, param_hint="SERVICE")
    settings = get_settings()
    configure_logging(settings.log_level)
    try:
        settings.fail_closed(f"The {service} service", None if service == "console" else service)
        settings.check_keys(service)
    except (InsecureConfiguration, KeyRingError) as refusal:
        console.print(f"[red]{refusal}[/]")
        raise typer.Exit(1) from refusal
    uvicorn.run(
        f"services.{service}.main:create_app",
        factory=True,
        host=host,
        port=port or DEFAULT_PORTS[service],
        http=HTTP_PROTOCOL,  # HTTP/1.1, an h2c upgrade offer ignored with the body kept
        log_config=None,  # keep our handler, which masks personal data
        access_log=settings.access_log,
        timeout_graceful_shutdown=15,
    )


@app.command("carrier-simulator")
def carrier_simulator(
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1")] = 0,
    webhook_url: Annotated[
        str | None,
        typer.Option(help="Delivery's webhook, e.g. http://127.0.0.1:8004/v1/carrier/events"),
    ] = None,
    host: Annotated[str, typer.Option(help="Interface to listen on")] = "127.0.0.1",
) -> None:
    """Run the carrier simulator (a stand-in for a carrier's HTTP API, 邮政寄递): shipments by
    idempotency key, tracking reports to delivery's webhook, a control API for failures."""
    from shared.settings import DEFAULT_PORTS
    from tooling.carrier_simulator.server import serve as serve_simulator

    serve_simulator(port or DEFAULT_PORTS["carrier"], webhook_url, host)


@app.command()
def migrate(
    service: Annotated[str | None, typer.Argument(help="One service; all if omitted")] = None,
) -> None:
    """Bring the service databases to the latest schema (DATABASE_URL / <SERVICE>_DATABASE_URL)."""
    from shared.db.migrations import upgrade

    settings = cli_settings()
    databases: dict[str, str] = {name: settings.service_database_url(name) for name in SERVICES}
    databases["portal"] = settings.portal_database()  # PORTAL_DATABASE_URL or tongban_portal
    databases["consultation"] = settings.service_database_url("consultation")
    databases["federation"] = settings.federation_database()  # the gateway's own
    for name in [service] if service else databases:
        upgrade(name, databases[name])
        console.print(Text.assemble(("✓ ", "green"), _("{service} migrated", service=name)))


@app.command()
def run(provinces: ProvincesOption = 1, scale: ScaleOption = 1) -> None:
    """Start Kafka, PostgreSQL, the services, the web apps, the simulators, the gateway; keep
    them up (a process that dies is started again) until Ctrl-C (or SIGTERM)."""
    from tooling.run_command import run_until_stopped

    run_until_stopped(console, provinces=provinces, scale=scale)


@app.command()
def demo(provinces: ProvincesOption = 2) -> None:
    """Start the stack, drive applications end to end (one across to Jiangsu), print them, stop."""
    from tooling.demo import run_demo
    from tooling.infra import InfrastructureError
    from tooling.stack import running_stack

    started = time.monotonic()
    try:
        with running_stack(console, provinces=provinces) as stack:
            asyncio.run(run_demo(stack, console))
    except InfrastructureError as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(1) from exc
    console.print(_("Demo finished in {seconds} s.", seconds=f"{time.monotonic() - started:.1f}"))


audit_app = typer.Typer(
    help="The audit ledger (区块链信任机制) in routing's database.", no_args_is_help=True
)
app.add_typer(audit_app, name="audit")


@audit_app.command("verify")
def audit_verify(
    from_seq: Annotated[
        int | None,
        typer.Option("--from", help="Start at the published checkpoint of this seq", min=1),
    ] = None,
) -> None:
    """Hold the ledger in routing's database to every checkpoint routing published (the
    retained topic and the watcher's store), recompute its SM3 hash chain and check routing's
    SM2 signatures against the key ring's public keys; prints ok or the first bad seq and what
    is missing or wrong, exit code 0 or 1."""
    from tooling.audit import verify_command

    raise typer.Exit(verify_command(cli_settings(), console, from_seq=from_seq))


@audit_app.command("watch")
def audit_watch(
    once: Annotated[
        bool, typer.Option("--once", help="Store what the topic holds now, then stop")
    ] = False,
    heartbeat: Annotated[
        Path | None,
        typer.Option(help="Touch this file each time round the loop (python -m tooling.heartbeat)"),
    ] = None,
) -> None:
    """Follow tongban.audit.checkpoints from the beginning, check each checkpoint against
    routing's public key and store what was seen in the watcher's own database
    (AUDIT_WATCH_DATABASE_URL, or DATABASE_URL's server with the database tongban_audit);
    runs until stopped (SIGTERM, Ctrl-C)."""
    import signal

    from shared.telemetry import configure_logging
    from tooling.audit_watch import watch

    settings = cli_settings()
    configure_logging(settings.log_level)

    async def watching() -> int:
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stopping.set)
        return await watch(settings, stopping, until_end=once, heartbeat=heartbeat)

    stored = asyncio.run(watching())
    console.print(_("audit watch: {count} checkpoint record(s) stored", count=stored))


@app.command()
def contracts(
    check: Annotated[
        bool, typer.Option("--check", help="Only report stale files; exit 1 if any")
    ] = False,
) -> None:
    """Regenerate the event JSON Schemas and AsyncAPI document under contracts/."""
    from tooling.contracts import stale_contracts, write_contracts

    if check:
        stale = stale_contracts(REPO_ROOT)
        for name in stale:
            console.print(f"[red]stale:[/] contracts/{name}")
        raise typer.Exit(1 if stale else 0)
    for path in write_contracts(REPO_ROOT):
        console.print(f"wrote {path.relative_to(REPO_ROOT)}")


@app.command("k8s-generate")
def k8s_generate(
    check: Annotated[
        bool, typer.Option("--check", help="Only report stale files; exit 1 if any")
    ] = False,
) -> None:
    """Regenerate deploy/k8s/base's Strimzi topics and users (from the ACL table) and the
    approval Deployments per locality group (from the localities)."""
    from tooling.k8s.manifests import stale_manifests, write_manifests

    if check:
        stale = stale_manifests(REPO_ROOT)
        for name in stale:
            console.print(f"[red]stale:[/] {name}")
        raise typer.Exit(1 if stale else 0)
    for path in write_manifests(REPO_ROOT):
        console.print(f"wrote {path.relative_to(REPO_ROOT)}")


app.command("kafka-credentials")(kafka_access.credentials_command)
app.command("kafka-acls")(kafka_access.acls_command)
app.add_typer(dlq.app, name="dlq")
app.add_typer(keys.app, name="keys")
app.add_typer(federation_cli.app, name="federation")

if __name__ == "__main__":
    app()
