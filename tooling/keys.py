"""`tongban keys`: the province key authority's and the operators' commands for keys.

Each workload has a key ring of its own (KEY_RING_DIR, KEY_RING_SECRET) holding only its private
keys; verifiers trust the public keys of the trust list the authority signs. The order of work:

1. `authority-init`: the authority's SM2 key, in a folder of its own (AUTHORITY_DIR, its own
   AUTHORITY_SECRET), and `trust-anchor.json`, its public key, which every service is given
   (TRUST_ANCHOR).
2. `generate --workload W` (approval: `--locality` per locality the group serves), once per
   workload, each into that workload's own ring folder (then its Kubernetes Secret).
3. `issue --ring DIR...`: collect the public halves of those rings (stored in clear: no ring
   secret is needed) and sign a new `trust-list.json` (distributed read-only, TRUST_LIST).
4. Later: `rotate NAME` in a ring, then `issue` again; `revoke KID --at` when a key may have
   been lost (it verifies nothing claiming to be signed from then on); `show` the list.

In development (`make run`, the tests) none of this is needed: the key ring makes its keys and
a development authority re-issues the list itself.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from shared.crypto import trust
from shared.crypto.keyring import (
    KeyRing,
    KeyRingError,
    SoftwareSigner,
    issue_trust_list,
    ring_public_keys,
)
from shared.crypto.keyring import revoke as revoke_key
from shared.crypto.trust import AUTHORITY_KEY, PublicKey, TrustListError
from shared.crypto.workloads import WORKLOADS, workload_keys
from shared.i18n import _
from tooling.local_state import cli_settings

app = typer.Typer(
    help="Keys: the province key authority's trust list, and each workload's own key ring.",
    no_args_is_help=True,
)
out = Console(soft_wrap=False)
err = Console(stderr=True)

AuthorityDir = Annotated[
    Path,
    typer.Option(
        "--authority-dir",
        envvar="AUTHORITY_DIR",
        help="The authority's folder: its key ring, trust-anchor.json, trust-list.json",
    ),
]
AuthoritySecret = Annotated[
    str,
    typer.Option(
        "--authority-secret",
        envvar="AUTHORITY_SECRET",
        help="The authority's own key-ring secret (never a service's)",
    ),
]
DEFAULT_AUTHORITY_DIR = Path(".tongban/authority")


def _fail(message: str, code: int = 1) -> NoReturn:
    err.print(message, style="red", markup=False, highlight=False)
    raise typer.Exit(code)


def _authority(directory: Path, secret: str) -> KeyRing:
    return KeyRing(directory, secret)


def _authority_signer(ring: KeyRing) -> SoftwareSigner:
    if ring.missing({AUTHORITY_KEY: "SM2-SM3"}):
        _fail(
            _(
                "There is no authority key in {directory}: run `tongban keys authority-init`.",
                directory=ring.directory,
            )
        )
    try:
        return ring.signer(AUTHORITY_KEY)
    except KeyRingError as error:
        _fail(str(error))


def _table(keys: list[PublicKey], title: str) -> Table:
    table = Table(title=title)
    for column in ("kid", "holder", "algorithm", "valid from", "retired", "revoked", "status"):
        table.add_column(column, no_wrap=column in ("kid", "holder"))
    style = {"current": "green", "retired": "yellow", "revoked": "red"}
    for key in keys:
        table.add_row(
            key.kid,
            key.name,
            key.algorithm,
            key.valid_from.isoformat(timespec="seconds"),
            key.retired_at.isoformat(timespec="seconds") if key.retired_at else "",
            key.revoked_at.isoformat(timespec="seconds") if key.revoked_at else "",
            f"[{style[key.status]}]{key.status}[/]",
        )
    return table


@app.command("authority-init")
def authority_init(
    secret: AuthoritySecret,
    directory: AuthorityDir = DEFAULT_AUTHORITY_DIR,
) -> None:
    """Make the province key authority's SM2 key (once) and write its trust anchor."""
    ring = _authority(directory, secret)
    try:
        kid, made = ring.provision(AUTHORITY_KEY, "SM2-SM3")
    except KeyRingError as error:
        _fail(str(error))
    anchors = [key for key in ring_public_keys(directory) if key.name == AUTHORITY_KEY]
    trust.write_anchor(anchors, ring.trust.anchor)
    done = (
        _("authority key {kid} made", kid=kid)
        if made
        else _("authority key {kid} already there", kid=kid)
    )
    out.print(f"[green]✓[/] {escape(done)}")
    anchor = _(
        "trust anchor: {anchor} (give it to every service as TRUST_ANCHOR)",
        anchor=ring.trust.anchor,
    )
    out.print(f"  {anchor}", markup=False)


@app.command()
def generate(
    workload: Annotated[str, typer.Option(help=f"One of: {', '.join(WORKLOADS)}")],
    locality: Annotated[
        list[str] | None,
        typer.Option(help="Approval groups: each locality the group serves (repeat)"),
    ] = None,
    ring_dir: Annotated[
        Path | None, typer.Option("--ring", help="The workload's ring folder (KEY_RING_DIR)")
    ] = None,
) -> None:
    """Make the private keys a workload needs (those it lacks) in its own ring folder, under
    KEY_RING_SECRET; then `tongban keys issue` puts their public halves in the trust list."""
    settings = cli_settings()
    try:
        wanted = workload_keys(workload, locality or ())
    except ValueError as error:
        _fail(str(error))
    ring = KeyRing(
        ring_dir or Path(settings.key_ring_dir), settings.key_ring_secret.get_secret_value()
    )
    table = Table(title=f"{workload}: {ring.directory}")
    table.add_column("key")
    table.add_column("algorithm")
    table.add_column("")
    try:
        for name, algorithm in wanted.items():
            kid, made = ring.provision(name, algorithm)
            status = _("made") if made else _("already there")
            table.add_row(kid, algorithm, f"[green]{escape(status)}[/]" if made else status)
    except KeyRingError as error:
        _fail(str(error))
    out.print(table)
    out.print(_("Next: `tongban keys issue --ring` with every workload's folder."), markup=False)


@app.command()
def issue(
    secret: AuthoritySecret,
    rings: Annotated[
        list[Path], typer.Option("--ring", help="A workload's ring folder (repeat for each)")
    ],
    directory: AuthorityDir = DEFAULT_AUTHORITY_DIR,
) -> None:
    """Sign a new trust list of the rings' public keys (revocations of the previous list
    kept) into the authority's folder: distribute that trust-list.json read-only."""
    authority = _authority(directory, secret)
    signer = _authority_signer(authority)
    collected = []
    for ring in rings:
        if not (ring / "private").is_dir():
            _fail(_("{ring} is not a key ring folder (no private/).", ring=ring))
        collected.extend(ring_public_keys(ring))
    try:
        keys = issue_trust_list(collected, signer, authority.trust)
    except KeyRingError as error:
        _fail(str(error))
    out.print(_table(keys, f"trust list {authority.trust.path}, signed by {signer.kid}"))


@app.command()
def revoke(
    kid: Annotated[str, typer.Argument(help="The key id, e.g. seal-340100#2")],
    secret: AuthoritySecret,
    at: Annotated[
        datetime | None,
        typer.Option(help="When the key may have been lost (ISO 8601, UTC if no offset); now"),
    ] = None,
    directory: AuthorityDir = DEFAULT_AUTHORITY_DIR,
) -> None:
    """Revoke a key as of `--at`: nothing claiming to be signed then or later verifies."""
    authority = _authority(directory, secret)
    signer = _authority_signer(authority)
    when = at or datetime.now(UTC)
    when = when if when.tzinfo else when.replace(tzinfo=UTC)
    try:
        revoked = revoke_key(authority.trust, kid, when, signer)
    except (TrustListError, KeyRingError) as error:
        _fail(str(error))
    revoked_line = _(
        "{kid} revoked as of {at}; distribute the new list.", kid=kid, at=revoked.revoked_at
    )
    out.print(f"[red]✗[/] {escape(revoked_line)}")


@app.command()
def rotate(
    name: Annotated[str, typer.Argument(help="The key name, e.g. seal-340100 or routing")],
    ring_dir: Annotated[
        Path | None, typer.Option("--ring", help="The workload's ring folder (KEY_RING_DIR)")
    ] = None,
) -> None:
    """Retire the current key of NAME in a workload's ring and make a new one (then `issue`)."""
    settings = cli_settings()
    ring = KeyRing(
        ring_dir or Path(settings.key_ring_dir),
        settings.key_ring_secret.get_secret_value(),
        development=settings.development,
        trust_list=settings.trust_list,
        trust_anchor=settings.trust_anchor,
    )
    try:
        kid = ring.rotate(name)
    except KeyRingError as error:
        _fail(str(error))
    rotated = _("{name}: {kid} is current, the earlier key retired", name=name, kid=kid)
    out.print(f"[green]✓[/] {escape(rotated)}")
    if not settings.development:
        out.print(
            _("Next: `tongban keys issue`, then roll the workload's Secret out."), markup=False
        )


@app.command()
def show(
    trust_list: Annotated[Path | None, typer.Option(help="A trust list; TRUST_LIST")] = None,
    anchor: Annotated[Path | None, typer.Option(help="Its trust anchor; TRUST_ANCHOR")] = None,
) -> None:
    """The trust list (checked against its anchor), each key current, retired or revoked."""
    ring = cli_settings().key_ring()
    checked = trust.TrustList(trust_list or ring.trust.path, anchor or ring.trust.anchor)
    try:
        keys = checked.keys()
    except TrustListError as error:
        _fail(str(error))
    out.print(_table(keys, f"trust list {checked.path} (verified with {checked.anchor})"))
