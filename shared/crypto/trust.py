"""The trust list: which public keys verify what, as the province key authority says.

Every verifier (event signatures, documents' seals, the audit ledger, `GET /v1/keys`) reads
public keys from one file, `TRUST_LIST`, that no service writes: the province key authority
issues it (`tongban keys issue`) and signs it with its own SM2 key, kept apart from every
service. Its public half, the *trust anchor* (`TRUST_ANCHOR`), is what a verifier is given
beforehand; a list whose signature does not verify with an anchor is refused.

An entry is a key id (`seal-340100#2`), the name of its holder (`seal-340100`), the algorithm,
the public key, `valid_from`, and two times that end what it verifies:

- `retired_at` (a rotation made a newer key current): nothing signed *after* it verifies;
- `revoked_at` (the key is compromised): nothing signed *at or after* it verifies.

"Signed at" is what the signed thing itself claims (an event's `ce_time`, a document's issue
date): a thief of a revoked key can back-date, which is why a key is revoked as of the time it
may have been lost, not the time the loss was noticed (`tongban keys revoke KID --at`).

The list is read again when its file changes (one stat per lookup; parsed and its signature
checked once per change), so a revocation reaches running services without a restart.
"""

from __future__ import annotations

import base64
import json
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any, Literal, Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from shared.canonical import canonical_json
from shared.crypto.sm import sm2_verify

log = logging.getLogger(__name__)

SigningAlgorithm = Literal["SM2-SM3", "Ed25519"]
KeyStatus = Literal["current", "retired", "revoked"]
TRUST_LIST_FILE = "trust-list.json"
TRUST_ANCHOR_FILE = "trust-anchor.json"
TRUST_LIST_FORMAT = "tongban.trust-list.v1"
# The key name of the province key authority's signing key (in its own key ring).
AUTHORITY_KEY = "authority"


class TrustListError(RuntimeError):
    """The trust list is missing, malformed or not signed by a trust anchor."""


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), validate=True)


def _time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


@dataclass(frozen=True)
class PublicKey:
    """One entry of the trust list (or of an anchor file: no times there)."""

    kid: str
    name: str
    algorithm: SigningAlgorithm
    public_key: bytes
    valid_from: datetime
    retired_at: datetime | None = None
    revoked_at: datetime | None = None

    @property
    def status(self) -> KeyStatus:
        if self.revoked_at is not None:
            return "revoked"
        return "retired" if self.retired_at is not None else "current"

    @property
    def ended_at(self) -> datetime | None:
        """When the key stopped signing (retired or revoked, whichever came first)."""
        ends = [at for at in (self.retired_at, self.revoked_at) if at is not None]
        return min(ends) if ends else None

    def usable(self, earliest: datetime, latest: datetime | None = None) -> bool:
        """Whether something signed between `earliest` and `latest` (one instant for an event;
        a whole day for a document dated by its issue day) may verify with this key: never
        when it may have been signed at or after the revocation, nor when it was certainly
        signed after the retirement."""
        latest = latest or earliest
        if self.revoked_at is not None and latest >= self.revoked_at:
            return False
        return self.retired_at is None or earliest <= self.retired_at

    def verify(self, message: bytes, signature: bytes) -> bool:
        """The signature alone; `usable` says whether the time it claims is within the key's."""
        if self.algorithm == "SM2-SM3":
            return sm2_verify(self.public_key, message, signature)
        try:
            self.ed25519_public.verify(signature, message)
        except (InvalidSignature, ValueError):
            return False
        return True

    @cached_property
    def ed25519_public(self) -> Ed25519PublicKey:
        return Ed25519PublicKey.from_public_bytes(self.public_key)

    def as_json(self) -> dict[str, Any]:
        return {
            "kid": self.kid,
            "name": self.name,
            "algorithm": self.algorithm,
            "public_key": _b64(self.public_key),
            "valid_from": self.valid_from.isoformat(),
            "retired_at": self.retired_at.isoformat() if self.retired_at else None,
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PublicKey:
        return cls(
            kid=data["kid"],
            name=data["name"],
            algorithm=data["algorithm"],
            public_key=_unb64(data["public_key"]),
            valid_from=datetime.fromisoformat(data["valid_from"]),
            retired_at=_time(data.get("retired_at")),
            revoked_at=_time(data.get("revoked_at")),
        )

    def revoked(self, at: datetime) -> PublicKey:
        return replace(self, revoked_at=min(at, self.revoked_at or at))


class AuthoritySigner(Protocol):
    """What issues a list: the authority's key (software or a hardware module)."""

    @property
    def kid(self) -> str: ...

    def sign(self, message: bytes) -> bytes: ...


def _signed_bytes(body: dict[str, Any]) -> bytes:
    # The list's own fields only, in the one canonical form Tongban signs (RFC 8785).
    return canonical_json(body)


def issue(keys: Iterable[PublicKey], authority: AuthoritySigner, path: Path) -> dict[str, Any]:
    """Write a trust list of `keys`, signed by `authority`, to `path` (atomically)."""
    body = {
        "format": TRUST_LIST_FORMAT,
        "issuer": authority.kid,
        "issued_at": datetime.now(UTC).isoformat(),
        "keys": [key.as_json() for key in sorted(keys, key=lambda key: key.kid)],
    }
    document = {**body, "signature": _b64(authority.sign(_signed_bytes(body)))}
    write_atomically(path, json.dumps(document, indent=1, ensure_ascii=False), mode=0o644)
    return document


def write_anchor(anchors: Iterable[PublicKey], path: Path) -> None:
    """The authority's public key(s) as verifiers are given them."""
    entries = [{k: v for k, v in key.as_json().items() if k != "retired_at"} for key in anchors]
    write_atomically(path, json.dumps({"anchors": entries}, indent=1), mode=0o644)


def read_anchors(path: Path) -> dict[str, PublicKey]:
    try:
        entries = json.loads(path.read_text())["anchors"]
        return {key.kid: key for key in map(PublicKey.from_json, entries)}
    except FileNotFoundError as exc:
        raise TrustListError(f"There is no trust anchor at {path} (TRUST_ANCHOR).") from exc
    except (ValueError, KeyError, TypeError) as exc:
        raise TrustListError(f"The trust anchor {path} is malformed: {exc}") from exc


def load(path: Path, anchor: Path) -> list[PublicKey]:
    """The keys of the trust list at `path`, once its signature verifies with an anchor."""
    anchors = read_anchors(anchor)
    try:
        document = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise TrustListError(
            f"There is no trust list at {path} (TRUST_LIST): the province key authority "
            "issues it (`tongban keys issue`)."
        ) from exc
    except ValueError as exc:
        raise TrustListError(f"The trust list {path} is not JSON: {exc}") from exc
    try:
        signature = _unb64(document.pop("signature"))
        issuer = anchors.get(document["issuer"])
        if document.get("format") != TRUST_LIST_FORMAT:
            raise TrustListError(f"The trust list {path} is not a {TRUST_LIST_FORMAT}.")
        if issuer is None or issuer.revoked_at is not None:
            raise TrustListError(
                f"The trust list {path} is signed by {document['issuer']!r}, not a trust anchor."
            )
        if not issuer.verify(_signed_bytes(document), signature):
            raise TrustListError(
                f"The trust list {path} does not verify with the trust anchor {issuer.kid}: "
                "it was altered or not issued by the province key authority."
            )
        return [PublicKey.from_json(entry) for entry in document["keys"]]
    except (KeyError, TypeError, ValueError) as exc:
        raise TrustListError(f"The trust list {path} is malformed: {exc!r}") from exc


def _stamp(path: Path) -> tuple[int, int, int] | None:
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return stat.st_ino, stat.st_mtime_ns, stat.st_size


class TrustList:
    """The trust list at `path`, checked against `anchor`, read again when either changes. A
    list that stops verifying is refused loudly and the last good one kept; with none ever
    good, every lookup raises TrustListError."""

    def __init__(self, path: Path | str, anchor: Path | str) -> None:
        self.path = Path(path)
        self.anchor = Path(anchor)
        self._keys: dict[str, PublicKey] = {}
        self._stamps: tuple[int, int, int] | None = None
        self._read = False
        self._good = False
        self._error: TrustListError | None = None

    def refresh(self) -> None:
        # One stat per lookup: the anchor is read again with the list (a new anchor comes with
        # a list it signed).
        stamps = _stamp(self.path)
        if self._read and stamps == self._stamps:
            if not self._good and self._error is not None:
                raise self._error
            return
        self._stamps, self._read = stamps, True
        try:
            keys = load(self.path, self.anchor)
        except TrustListError as exc:
            self._error = exc
            if not self._good:
                raise
            log.error("The trust list changed and is refused; keeping the last good one: %s", exc)
            return
        self._keys = {key.kid: key for key in keys}
        self._good = True
        self._error = None

    def key(self, kid: str) -> PublicKey | None:
        self.refresh()
        return self._keys.get(kid)

    def keys(self) -> list[PublicKey]:
        self.refresh()
        return sorted(self._keys.values(), key=lambda key: key.kid)

    def current(self, name: str) -> PublicKey | None:
        """The one key of `name` neither retired nor revoked; None when there is none. Two
        would be a list the authority should not have issued: refused, not guessed between."""
        found = [key for key in self.keys() if key.name == name and key.status == "current"]
        if len(found) > 1:
            raise TrustListError(
                f"The trust list names {len(found)} current keys of {name!r}: "
                + ", ".join(key.kid for key in found)
            )
        return found[0] if found else None


def write_atomically(path: Path, text: str, *, mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(f".{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.replace(temporary, path)
