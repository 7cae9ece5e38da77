"""`tongban federation`: the operators' commands for 跨省通办 trust (contracts/federation.md).

- `anchor export FILE`: this province's anchor (province, name, gateway URL, the gateway's SM2
  public keys, validity), signed with the gateway's key, to hand to a partner province.
- `trust add FILE`: trust a partner province's anchor (its signature checked, its fingerprint
  shown to be compared with the one the partner reads out over another channel).
- `trust list`, `trust remove PROVINCE`: the partners trusted now; removing one refuses its next
  message at once (the gateway reads FEDERATION_TRUST_DIR for every message).

The commands work on the folders the gateway reads (KEY_RING_DIR, FEDERATION_TRUST_DIR), never
through the gateway: trust is granted where the gateway runs, by whoever may write its folder.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from shared.federation.anchors import (
    AnchorError,
    TrustedPartners,
    read_anchor,
    write_anchor,
)
from shared.federation.province_anchor import province_anchor
from shared.i18n import _
from tooling import federation_log
from tooling.local_state import cli_settings

app = typer.Typer(
    help="跨省通办: this province's federation anchor and the partner provinces it trusts.",
    no_args_is_help=True,
)
anchor_app = typer.Typer(help="This province's signed anchor.", no_args_is_help=True)
trust_app = typer.Typer(help="The partner provinces trusted.", no_args_is_help=True)
app.add_typer(anchor_app, name="anchor")
app.add_typer(trust_app, name="trust")
out = Console(soft_wrap=False)
err = Console(stderr=True)


def _partners() -> TrustedPartners:
    return TrustedPartners(cli_settings().federation_trust_dir)


@anchor_app.command("export")
def anchor_export(
    file: Annotated[Path, typer.Argument(help="Where to write the anchor (JSON)")],
    valid_days: Annotated[
        float, typer.Option("--valid-days", help="How long partners may trust it")
    ] = 365,
) -> None:
    """Write this province's anchor, signed with the gateway's federation key."""
    settings = cli_settings()
    anchor = province_anchor(
        settings.key_ring(),
        province=settings.province,
        name=settings.federation_province_name,
        gateway_url=settings.federation_gateway_url,
        valid_days=valid_days,
    )
    write_anchor(anchor, file)
    out.print(
        _(
            "Anchor of province {province} written to {file}.",
            province=anchor.province,
            file=escape(str(file)),
        )
    )
    out.print(_("Fingerprint (SM3): {fingerprint}", fingerprint=anchor.fingerprint), soft_wrap=True)


@trust_app.command("add")
def trust_add(
    file: Annotated[Path, typer.Argument(help="The partner province's anchor (JSON)")],
) -> None:
    """Trust a partner province: its anchor's signature is checked and its fingerprint shown."""
    settings = cli_settings()
    try:
        anchor = read_anchor(file)
    except AnchorError as exc:
        err.print("[red]" + escape(_("The anchor is refused: {reason}", reason=str(exc))) + "[/]")
        raise typer.Exit(1) from exc
    if anchor.province == settings.province[:2]:
        err.print("[red]" + escape(_("This is this province's own anchor.")) + "[/]")
        raise typer.Exit(1)
    if not anchor.valid_at(datetime.now(UTC)):
        err.print("[red]" + escape(_("The anchor is not valid now.")) + "[/]")
        raise typer.Exit(1)
    TrustedPartners(settings.federation_trust_dir).add(anchor)
    out.print(
        _(
            "Province {province} ({name}) is trusted, at {url}, until {until}.",
            province=anchor.province,
            name=anchor.name,
            url=anchor.gateway_url,
            until=anchor.valid_until.date().isoformat(),
        ),
        markup=False,
    )
    out.print(_("Fingerprint (SM3): {fingerprint}", fingerprint=anchor.fingerprint), soft_wrap=True)


@trust_app.command("list")
def trust_list() -> None:
    """The partner provinces trusted now."""
    anchors = _partners().all()
    if not anchors:
        out.print(_("No partner province is trusted."))
        return
    table = Table(_("Province"), _("Name"), _("Gateway"), _("Valid until"), _("Fingerprint"))
    for anchor in anchors:
        table.add_row(
            anchor.province,
            escape(anchor.name),
            escape(anchor.gateway_url),
            anchor.valid_until.date().isoformat(),
            anchor.fingerprint[:19],
        )
    out.print(table)


@trust_app.command("remove")
def trust_remove(
    province: Annotated[str, typer.Argument(help="The partner's province code, e.g. 32")],
) -> None:
    """Stop trusting a partner province: its next message is refused."""
    if not _partners().remove(province):
        err.print(
            "[red]" + escape(_("Province {province} is not trusted.", province=province)) + "[/]"
        )
        raise typer.Exit(1)
    out.print(_("Province {province} is no longer trusted.", province=province))


@app.command("log")
def log(
    application_no: Annotated[str, typer.Argument(help="The application number")],
    as_json: Annotated[bool, typer.Option("--json", help="JSON, for scripts")] = False,
) -> None:
    """A case's cross-border messages, sent and received, each with its signature checked."""
    found = federation_log.read(cli_settings(), application_no)
    if as_json:
        typer.echo(json.dumps(federation_log.as_json(found), ensure_ascii=False, indent=2))
        return
    if not found:
        out.print(_("No cross-border message for {number}.", number=application_no))
        return
    out.print(federation_log.table_of(found))
