"""Federation anchors: a province's signed statement of who it is and how to reach it, and the
folder of the anchors this province's operators chose to trust.

An anchor (`tongban federation anchor export`) names the province (code and name), its
gateway's URL, the public SM2 keys its gateway signs messages with, and how long it is valid; it
is signed with the current one of those keys over its canonical bytes (RFC 8785). It may also
name the province's localities' seal keys (`seals`): the keys the partner vouches for, with
which the receiving province checks the seal of a certificate the partner issued for an
application its window handed over (contracts/federation.md §11). The signature
proves that whoever made the file holds the keys; it does not make anyone trust it. Trust is an
operator's decision, made once per partner (X-Road's configuration anchor): the partner's anchor
is handed over out of band, its SM3 fingerprint read back over another channel, and imported
(`tongban federation trust add FILE`). No partner is trusted by default.

The trusted anchors are files in one folder (FEDERATION_TRUST_DIR), one per province
(`<code>.json`). The gateway lists the folder for every message it receives or sends (files
are read again only when one changed), so removing a partner
(`tongban federation trust remove CODE`) refuses its very next message, without a restart.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from shared.canonical import canonical_json
from shared.crypto.keyring import SoftwareSigner
from shared.crypto.sm import sm2_public_key_valid, sm2_verify, sm3
from shared.crypto.trust import write_atomically

log = logging.getLogger(__name__)

ANCHOR_FORMAT = "tongban.federation-anchor.v1"
# The key ring's name of the key a gateway signs its messages (and its anchor) with.
FEDERATION_KEY = "federation"
PROVINCE_CODE = re.compile(r"^[1-9][0-9]$")


class AnchorError(ValueError):
    """An anchor that is malformed, not signed by a key it names, or not valid now."""


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), validate=True)


@dataclass(frozen=True)
class SealKey:
    """A locality's seal key as an anchor names it (kid `seal-<locality>#n`)."""

    kid: str
    locality: str
    public_key: bytes
    revoked_at: datetime | None = None

    def as_json(self) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "kid": self.kid,
            "locality": self.locality,
            "algorithm": "SM2-SM3",
            "public_key": _b64(self.public_key),
        }
        if self.revoked_at is not None:
            entry["revoked_at"] = self.revoked_at.isoformat()
        return entry

    @classmethod
    def from_json(cls, entry: dict[str, Any], province: str) -> SealKey:
        if entry["algorithm"] != "SM2-SM3":
            raise AnchorError(f"seal {entry['kid']} is not SM2-SM3")
        public = _unb64(entry["public_key"])
        if not sm2_public_key_valid(public):
            raise AnchorError(f"seal {entry['kid']} is not an SM2 public key")
        locality = str(entry["locality"])
        if not re.fullmatch(r"\d{6}", locality) or locality[:2] != province:
            raise AnchorError(f"seal {entry['kid']} is of {locality!r}, not of {province}")
        if not str(entry["kid"]).startswith(f"seal-{locality}#"):
            raise AnchorError(f"{entry['kid']} is not a seal key of {locality}")
        revoked = entry.get("revoked_at")
        return cls(
            kid=str(entry["kid"]),
            locality=locality,
            public_key=public,
            revoked_at=datetime.fromisoformat(revoked) if revoked else None,
        )


@dataclass(frozen=True)
class Anchor:
    province: str  # the two-digit code of the GB/T 2260 province (34 Anhui, 32 Jiangsu)
    name: str
    gateway_url: str
    keys: dict[str, bytes]  # kid -> SM2 public key (65 bytes, uncompressed)
    valid_from: datetime
    valid_until: datetime
    issued_at: datetime
    signer: str
    signature: bytes
    # The localities' seal keys it vouches for (kid -> key); none in an anchor of before.
    seals: tuple[SealKey, ...] = ()

    def seal_key(self, kid: str) -> SealKey | None:
        return next((key for key in self.seals if key.kid == kid), None)

    def body(self) -> dict[str, Any]:
        """What the signature covers: every field but the signature (`seals` when it names
        any, so an anchor made before seals were named keeps its bytes)."""
        seals = {"seals": [key.as_json() for key in sorted(self.seals, key=lambda k: k.kid)]}
        return {
            "format": ANCHOR_FORMAT,
            "province": self.province,
            "name": self.name,
            "gateway_url": self.gateway_url,
            "keys": [
                {"kid": kid, "algorithm": "SM2-SM3", "public_key": _b64(key)}
                for kid, key in sorted(self.keys.items())
            ],
            "valid_from": self.valid_from.isoformat(),
            "valid_until": self.valid_until.isoformat(),
            "issued_at": self.issued_at.isoformat(),
            "signer": self.signer,
        } | (seals if self.seals else {})

    def as_json(self) -> dict[str, Any]:
        return {**self.body(), "signature": _b64(self.signature)}

    @property
    def fingerprint(self) -> str:
        """SM3 of the signed bytes, in groups of four hex digits: what two operators read to
        each other over the phone before one imports the other's anchor."""
        digest = sm3(canonical_json(self.body())).hex().upper()
        return " ".join(digest[i : i + 4] for i in range(0, len(digest), 4))

    def valid_at(self, at: datetime) -> bool:
        return self.valid_from <= at < self.valid_until

    def check_signature(self) -> None:
        key = self.keys.get(self.signer)
        if key is None:
            raise AnchorError(f"the anchor is signed by {self.signer}, a key it does not name")
        if not sm2_verify(key, canonical_json(self.body()), self.signature):
            raise AnchorError("the anchor's signature does not verify: it was altered")

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Anchor:
        """Parsed and its signature checked (AnchorError otherwise); validity is not checked."""
        try:
            if data.get("format") != ANCHOR_FORMAT:
                raise AnchorError(f"not a {ANCHOR_FORMAT}")
            keys = {}
            for entry in data["keys"]:
                if entry["algorithm"] != "SM2-SM3":
                    raise AnchorError(f"key {entry['kid']} is not SM2-SM3")
                public = _unb64(entry["public_key"])
                if not sm2_public_key_valid(public):
                    raise AnchorError(f"key {entry['kid']} is not an SM2 public key")
                keys[str(entry["kid"])] = public
            anchor = cls(
                province=str(data["province"]),
                name=str(data["name"]),
                gateway_url=str(data["gateway_url"]).rstrip("/"),
                keys=keys,
                valid_from=datetime.fromisoformat(data["valid_from"]),
                valid_until=datetime.fromisoformat(data["valid_until"]),
                issued_at=datetime.fromisoformat(data["issued_at"]),
                signer=str(data["signer"]),
                signature=_unb64(data["signature"]),
                seals=tuple(
                    SealKey.from_json(entry, str(data["province"]))
                    for entry in data.get("seals", [])
                ),
            )
        except AnchorError:
            raise
        except (KeyError, TypeError, ValueError) as exc:
            raise AnchorError(f"the anchor is malformed: {exc!r}") from exc
        if not PROVINCE_CODE.match(anchor.province):
            raise AnchorError(f"{anchor.province!r} is not a province code")
        if not anchor.gateway_url.startswith("https://"):
            raise AnchorError("the gateway URL must be https://")
        if anchor.valid_until <= anchor.valid_from:
            raise AnchorError("the anchor's validity ends before it begins")
        anchor.check_signature()
        return anchor


def make_anchor(
    *,
    province: str,
    name: str,
    gateway_url: str,
    signer: SoftwareSigner,
    keys: dict[str, bytes],
    valid_days: float,
    now: datetime | None = None,
    seals: tuple[SealKey, ...] = (),
) -> Anchor:
    """This province's anchor, signed with `signer` (whose public key must be among `keys`)."""
    now = now or datetime.now(UTC)
    unsigned = Anchor(
        province=province,
        name=name,
        gateway_url=gateway_url.rstrip("/"),
        keys=dict(keys),
        valid_from=now,
        valid_until=now + timedelta(days=valid_days),
        issued_at=now,
        signer=signer.kid,
        signature=b"",
        seals=seals,
    )
    signature = signer.sign(canonical_json(unsigned.body()))
    anchor = replace(unsigned, signature=signature)
    anchor.check_signature()  # the signer's key is among `keys`
    return anchor


def read_anchor(path: Path) -> Anchor:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise AnchorError(f"there is no anchor at {path}") from exc
    except ValueError as exc:
        raise AnchorError(f"{path} is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise AnchorError(f"{path} is not an anchor")
    return Anchor.from_json(data)


def write_anchor(anchor: Anchor, path: Path) -> None:
    text = json.dumps(anchor.as_json(), indent=1, ensure_ascii=False)
    write_atomically(path, text, mode=0o644)


class TrustedPartners:
    """The anchors in FEDERATION_TRUST_DIR, read again when the folder changes. A file that no
    longer verifies is left out (and logged): it trusts nobody."""

    def __init__(self, directory: Path | str) -> None:
        self.directory = Path(directory)
        self._stamp: tuple[tuple[str, int, int, int], ...] | None = None
        self._anchors: dict[str, Anchor] = {}

    def _folder_stamp(self) -> tuple[tuple[str, int, int, int], ...]:
        # One listing per message: each file's name, inode, mtime and size, so a removal or a
        # replacement is seen at once whatever the file system's clock resolution.
        try:
            entries = list(os.scandir(self.directory))
        except FileNotFoundError:
            return ()
        stamps = []
        for entry in entries:
            if entry.name.endswith(".json"):
                stat = entry.stat()
                stamps.append((entry.name, stat.st_ino, stat.st_mtime_ns, stat.st_size))
        return tuple(sorted(stamps))

    def refresh(self) -> None:
        stamp = self._folder_stamp()
        if stamp == self._stamp:
            return
        anchors: dict[str, Anchor] = {}
        for name, *_ in stamp:
            path = self.directory / name
            try:
                anchor = read_anchor(path)
            except AnchorError as exc:
                log.error("federation: the trusted anchor %s is refused: %s", name, exc)
                continue
            if path.stem != anchor.province:
                log.error("federation: %s holds the anchor of %s", name, anchor.province)
                continue
            anchors[anchor.province] = anchor
        self._anchors, self._stamp = anchors, stamp

    def get(self, province: str) -> Anchor | None:
        self.refresh()
        return self._anchors.get(province)

    def all(self) -> list[Anchor]:
        self.refresh()
        return [self._anchors[code] for code in sorted(self._anchors)]

    def add(self, anchor: Anchor) -> Path:
        path = self.directory / f"{anchor.province}.json"
        write_anchor(anchor, path)
        return path

    def remove(self, province: str) -> bool:
        path = self.directory / f"{province}.json"
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        return True
