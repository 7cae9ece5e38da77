"""`tongban dlq`: the dead letters of the consumers (shared.messaging.deadletters) for operators.

`list` shows what the consumers parked and why, `show` one record with its headers and value,
`replay` publishes records again to the topic they came from (the consumers' inboxes make a
replay a no-op for whoever handled the event already).

The tools read every `.dlq` topic and write the channel topics, which only an operator's or the
admin's Kafka principal may do: KAFKA_BOOTSTRAP_SERVERS, KAFKA_USERNAME, KAFKA_PASSWORD... from
the environment or `.env`, as every command; with no KAFKA_USERNAME and the launcher's
credentials in `.tongban/infra` (`make run`), the launcher's admin `tongban-admin`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Coroutine, Sequence
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from aiokafka.errors import KafkaError, TopicAuthorizationFailedError
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from shared.i18n import _
from shared.messaging.deadletters import (
    BadDeadLetterId,
    DeadLetter,
    get_dead_letter,
    list_dead_letters,
    replay_many,
)
from shared.settings import Settings
from shared.telemetry import mask_personal_data
from tooling.local_state import cli_settings

app = typer.Typer(
    help="Dead letters: events a consumer could not handle, parked on <topic>.dlq. Needs an "
    "operator's or the admin's Kafka principal (KAFKA_USERNAME / KAFKA_PASSWORD; the launcher's "
    "tongban-admin by default with `make run`).",
    no_args_is_help=True,
)
out = Console(soft_wrap=False)
err = Console(stderr=True)

MESSAGE_WIDTH = 60
T = TypeVar("T")


def dlq_settings() -> Settings:
    """The environment's settings; without a Kafka username, the launcher's admin (`make run`'s
    broker authenticates everyone, and only the admin may read every dead-letter topic)."""
    from tooling.infra import InfrastructureError, default_work_dir
    from tooling.infra.kafka_credentials import KafkaCredentials

    settings = cli_settings()
    if settings.kafka_username:
        return settings
    try:
        credentials = KafkaCredentials.load(default_work_dir())
    except InfrastructureError:
        return settings
    return settings.model_copy(update=credentials.settings())


def _run(settings: Settings, work: Coroutine[Any, Any, T]) -> T:
    """Run `work`; Kafka's refusals and absences as one clear line and exit code 1."""
    try:
        return asyncio.run(work)
    except TopicAuthorizationFailedError as error:
        _fail(
            _(
                "Kafka principal {principal} may not read the dead-letter topics or write the "
                "original ones ({error}); use an operator's or the admin's credentials "
                "(KAFKA_USERNAME, KAFKA_PASSWORD).",
                principal=settings.kafka_username or "(anonymous)",
                error=error,
            )
        )
    except (KafkaError, OSError) as error:
        _fail(
            _(
                "Kafka at {address} failed: {error}",
                address=settings.kafka_bootstrap_servers,
                error=repr(error),
            )
        )


def _fail(message: str, code: int = 1) -> NoReturn:
    err.print(message, style="red", markup=False, highlight=False)
    raise typer.Exit(code)


def _short(text: str | None, width: int) -> str:
    if not text:
        return ""
    line = " ".join(text.split())
    return line if len(line) <= width else line[: width - 1] + "…"


def _table(letters: Sequence[DeadLetter]) -> Table:
    table = Table(show_lines=False, header_style="bold")
    for column in ("id", "original topic", "type", "key", "consumer", "error", "message", "at"):
        table.add_column(column, overflow="fold" if column == "id" else "ellipsis")
    for letter in letters:
        table.add_row(
            letter.id,
            letter.original_topic,
            letter.event_type or "",
            letter.key or "",
            letter.consumer or "",
            letter.error_type or "",
            escape(_short(letter.error_message, MESSAGE_WIDTH)),
            letter.at.isoformat(timespec="seconds") if letter.at else "",
        )
    return table


@app.command("list")
def list_command(
    topic: Annotated[
        str | None, typer.Option(help="Original topic (or its .dlq), e.g. tongban.approval.events")
    ] = None,
    event_type: Annotated[
        str | None, typer.Option("--type", help="CloudEvent type (ce_type) of the record")
    ] = None,
    reason: Annotated[
        str | None, typer.Option(help="Error type (e.g. NotFound) or a part of its message")
    ] = None,
    limit: Annotated[int, typer.Option(help="At most this many, the newest", min=1)] = 100,
) -> None:
    """The dead letters on the broker, the newest last."""
    settings = dlq_settings()
    letters = _run(
        settings,
        list_dead_letters(settings, topic=topic, event_type=event_type, reason=reason, limit=limit),
    )
    if not letters:
        err.print(_("No dead letters."))
        return
    out.print(_table(letters))
    err.print(_("{count} dead letter(s).", count=len(letters)))


def _value_text(value: bytes, raw: bool) -> str:
    try:
        text = json.dumps(json.loads(value), indent=2, ensure_ascii=False)
    except (ValueError, UnicodeDecodeError):
        text = value.decode(errors="replace")
    return text if raw else mask_personal_data(text)


@app.command("show")
def show_command(
    dead_letter_id: Annotated[
        str, typer.Argument(metavar="ID", help="As `tongban dlq list` prints it: topic:part:offset")
    ],
    raw: Annotated[
        bool,
        typer.Option(
            "--raw", help="Do not mask ID and phone numbers (a request topic carries them)"
        ),
    ] = False,
) -> None:
    """One dead letter: where it came from, why it was parked, every header and the value."""
    settings = dlq_settings()
    letter = _letter(settings, dead_letter_id)
    rows = [
        ("id", letter.id),
        (
            "original",
            f"{letter.original_topic}[{letter.original_partition}]@{letter.original_offset}",
        ),
        ("key", letter.key or ""),
        ("type", letter.event_type or ""),
        ("event id", letter.event_id or ""),
        ("consumer", letter.consumer or ""),
        ("error", f"{letter.error_type or ''}: {letter.error_message or ''}"),
        ("attempts", "" if letter.attempts is None else str(letter.attempts)),
        ("parked at", letter.at.isoformat() if letter.at else ""),
    ]
    for label, value in rows:
        out.print(f"{label + ':':<10} {value}", markup=False, highlight=False)
    out.print("headers:", markup=False)
    for name, header_value in letter.headers:
        shown = header_value.decode(errors="replace")
        out.print(
            f"  {name}: {shown if raw else mask_personal_data(shown)}",
            markup=False,
            highlight=False,
        )
    out.print("value:", markup=False)
    out.print(_value_text(letter.value, raw), markup=False, highlight=False)


def _letter(settings: Settings, dead_letter_id: str) -> DeadLetter:
    try:
        return _run(settings, get_dead_letter(settings, dead_letter_id))
    except BadDeadLetterId as error:
        _fail(str(error), 2)
    except LookupError as error:
        _fail(str(error))


@app.command("replay")
def replay_command(
    dead_letter_ids: Annotated[
        list[str] | None, typer.Argument(metavar="[ID]...", help="Dead letters to replay")
    ] = None,
    every: Annotated[
        bool, typer.Option("--all", help="Every dead letter the filters select")
    ] = False,
    topic: Annotated[str | None, typer.Option(help="With --all: original topic")] = None,
    event_type: Annotated[str | None, typer.Option("--type", help="With --all: ce_type")] = None,
    reason: Annotated[
        str | None, typer.Option(help="With --all: error type or a part of its message")
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation")] = False,
) -> None:
    """Publish dead letters again to their original topic: the same key, value and headers
    (the same event id and signature), without the dlq.* headers. A consumer that handled the
    event already skips it (its inbox); the one that parked it tries again."""
    ids = list(dead_letter_ids or ())
    if every == bool(ids):
        _fail(_("Give dead letter ids, or --all (with --topic, --type, --reason), not both."), 2)
    if not every and (topic or event_type or reason):
        _fail(_("--topic, --type and --reason go with --all."), 2)
    settings = dlq_settings()
    if every:
        letters = _run(
            settings,
            list_dead_letters(
                settings, topic=topic, event_type=event_type, reason=reason, limit=1_000_000
            ),
        )
    else:
        letters = [_letter(settings, one) for one in ids]
    if not letters:
        err.print(_("No dead letters to replay."))
        return
    out.print(_table(letters))
    if not yes and not typer.confirm(
        _("Replay {count} dead letter(s) to their original topics?", count=len(letters)), err=True
    ):
        raise typer.Exit(1)
    results = _run(settings, replay_many(settings, letters))
    for result in results:
        out.print(
            f"{result.dead_letter_id} → {result.topic}[{result.partition}]@{result.offset}",
            markup=False,
            highlight=False,
        )
    err.print(_("{count} replayed.", count=len(results)))
