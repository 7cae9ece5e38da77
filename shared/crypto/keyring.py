"""The key ring: every key a process signs, seals or encrypts with, by name, with rotation.

A folder (`KEY_RING_DIR`) holds one file per key name under `private/`, each key wrapped with
SM4-GCM under a key derived from `KEY_RING_SECRET`, and `public-keys.json`, the public half of
every signing key, current and retired, which verifiers read (and anyone may be given: it is
what `GET /v1/keys` serves). A key is generated the first time it is asked for; `rotate` makes
a new current key and keeps the old ones, retired, so what they signed or encrypted stays
readable. In production the folder is given (a mounted secret per deployment, public keys
from `tongban keys export`); nothing else changes.

Names used: `intake`, `routing`, `approval`, `delivery` (each service's event signatures),
`seal-<locality>` (a locality's electronic seal, SM2), `token-issuer` (the development
issuer of bearer tokens, Ed25519, for `tongban token`), and the personal-data keys of
`shared.crypto.personal`: `pii` (SM4, fields at rest), `pii-index` (HMAC-SM3, blind indexes) and
`sealing-<service>` (an SM2 key pair that personal data crossing a province-wide topic is
encrypted to, `decryption_keys`; its public half is in `public-keys.json` like any other).

`Signer` is the interface a hardware cryptographic module implements in production: it is
asked to sign bytes and names its key id; the private key never has to leave it.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any, Literal, Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from shared.crypto.sm import (
    DecryptionFailed,
    sm2_generate,
    sm2_sign,
    sm2_verify,
    sm3_hmac,
    sm4_gcm_decrypt,
    sm4_gcm_encrypt,
)

SigningAlgorithm = Literal["SM2-SM3", "Ed25519"]
SecretAlgorithm = Literal["SM4", "HMAC-SM3"]
Algorithm = SigningAlgorithm | SecretAlgorithm
_SECRET_BYTES: dict[str, int] = {"SM4": 16, "HMAC-SM3": 32}
PUBLIC_KEYS_FILE = "public-keys.json"


class KeyRingError(RuntimeError):
    """The key ring cannot give the key asked for; the message says what to do."""


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), validate=True)


def key_name(kid: str) -> str:
    """`seal-340100#2` → `seal-340100`: the name whose holder a key id speaks for."""
    return kid.rpartition("#")[0] or kid


@dataclass(frozen=True)
class PublicKey:
    kid: str
    name: str
    algorithm: SigningAlgorithm
    public_key: bytes
    created_at: datetime
    retired_at: datetime | None = None

    def verify(self, message: bytes, signature: bytes) -> bool:
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
            "created_at": self.created_at.isoformat(),
            "retired_at": self.retired_at.isoformat() if self.retired_at else None,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PublicKey:
        return cls(
            kid=data["kid"],
            name=data["name"],
            algorithm=data["algorithm"],
            public_key=_unb64(data["public_key"]),
            created_at=datetime.fromisoformat(data["created_at"]),
            retired_at=datetime.fromisoformat(data["retired_at"]) if data["retired_at"] else None,
        )


class Signer(Protocol):
    """Signs with one key and names it; a hardware module implements the same two members."""

    @property
    def kid(self) -> str: ...

    @property
    def algorithm(self) -> SigningAlgorithm: ...

    def sign(self, message: bytes) -> bytes: ...


@dataclass(frozen=True)
class SoftwareSigner:
    kid: str
    algorithm: SigningAlgorithm
    private_key: bytes

    def sign(self, message: bytes) -> bytes:
        if self.algorithm == "SM2-SM3":
            return sm2_sign(self.private_key, message)
        return self.ed25519.sign(message)

    @cached_property
    def ed25519(self) -> Ed25519PrivateKey:
        return Ed25519PrivateKey.from_private_bytes(self.private_key)


@dataclass(frozen=True)
class SecretKeys:
    """A symmetric key by version: new data under `current`, old data under the kid it names."""

    name: str
    current: str
    keys: dict[str, bytes]

    @property
    def current_key(self) -> bytes:
        return self.keys[self.current]


@dataclass
class _StoredKey:
    kid: str
    created_at: datetime
    retired_at: datetime | None
    public_key: bytes | None
    secret: bytes  # the private or symmetric key, unwrapped


class KeyRing:
    """Keys by name in a folder; safe to share between processes of one machine."""

    def __init__(self, directory: Path | str, secret: str) -> None:
        self.directory = Path(directory)
        self._wrapping_key = sm3_hmac(secret.encode(), b"tongban key ring: wrapping key")[:16]
        self._lock = threading.Lock()
        self._signers: dict[str, SoftwareSigner] = {}
        self._secrets: dict[str, SecretKeys] = {}
        self._public: dict[str, PublicKey] = {}
        self._public_stamp: int | None = None

    # --- signing keys ------------------------------------------------------------------------

    def signer(self, name: str, algorithm: SigningAlgorithm = "SM2-SM3") -> SoftwareSigner:
        """The current signing key of `name`, generated on first use. A process keeps the
        signers it used; when another process (an operator's rotation) retired that key
        meanwhile, public-keys.json says so and the new current key is read instead: nothing is
        signed with a retired key. (A stat of that file per call; it is read again only when
        it changed.)"""
        known = self._signers.get(name)
        if known is not None and not self._retired(known.kid):
            return known
        with self._lock:
            self._signers.pop(name, None)
            self._secrets.pop(name, None)
            stored = self._current(name, algorithm)
            signer = SoftwareSigner(stored.kid, algorithm, stored.secret)
            self._signers[name] = signer
            return signer

    def secret(self, name: str, algorithm: SecretAlgorithm = "SM4") -> SecretKeys:
        """Every version of the symmetric key `name`, the newest current; generated on first use."""
        known = self._secrets.get(name)
        if known is not None:
            return known
        with self._lock:
            current = self._current(name, algorithm)
            keys = {key.kid: key.secret for key in self._load(name, algorithm)}
            result = SecretKeys(name, current.kid, keys)
            self._secrets[name] = result
            return result

    def decryption_keys(self, name: str) -> SecretKeys:
        """Every version of the SM2 key pair `name` as private keys by kid, the newest current:
        for SM2 public-key encryption to its holder, so what was sealed to a retired version
        still opens. Generated on first use; the public halves go to `public-keys.json`."""
        known = self._secrets.get(name)
        if known is not None:
            return known
        with self._lock:
            current = self._current(name, "SM2-SM3")
            keys = {key.kid: key.secret for key in self._load(name, "SM2-SM3")}
            result = SecretKeys(name, current.kid, keys)
            self._secrets[name] = result
            return result

    def forget(self, name: str) -> None:
        """Drop what this process keeps of `name`: the next call reads the folder again (another
        process may have rotated the key since)."""
        with self._lock:
            self._signers.pop(name, None)
            self._secrets.pop(name, None)

    def rotate(self, name: str) -> str:
        """Retire the current key of `name` (kept, to verify or decrypt what it made) and make
        a new current one; the new key id."""
        with self._lock, self._file_lock():
            data = self._read(name)
            if data is None:
                raise KeyRingError(f"There is no key {name!r} in the key ring to rotate.")
            algorithm: Algorithm = data["algorithm"]
            keys = self._unwrap_all(name, data)
            now = datetime.now(UTC)
            for key in keys:
                key.retired_at = key.retired_at or now
            keys.append(self._generate(name, algorithm, len(keys) + 1))
            self._write(name, algorithm, keys)
            self._signers.pop(name, None)
            self._secrets.pop(name, None)
            return keys[-1].kid

    # --- public keys (what verifiers read) ---------------------------------------------------

    def public_keys(self) -> list[PublicKey]:
        self._refresh_public()
        return sorted(self._public.values(), key=lambda key: key.kid)

    def public_key(self, kid: str) -> PublicKey | None:
        """The public key `kid`, looking at the file again when it is not known yet (another
        process may just have made it)."""
        found = self._public.get(kid)
        if found is None:
            self._refresh_public()
            found = self._public.get(kid)
        return found

    def _retired(self, kid: str) -> bool:
        self._refresh_public()
        key = self._public.get(kid)
        return key is not None and key.retired_at is not None

    def verify(self, kid: str, message: bytes, signature: bytes) -> bool:
        key = self.public_key(kid)
        return key is not None and key.verify(message, signature)

    def _refresh_public(self) -> None:
        path = self.directory / PUBLIC_KEYS_FILE
        try:
            stamp = path.stat().st_mtime_ns
        except FileNotFoundError:
            return
        if stamp == self._public_stamp:
            return
        keys = json.loads(path.read_text())["keys"]
        self._public = {key.kid: key for key in map(PublicKey.from_json, keys)}
        self._public_stamp = stamp

    # --- storage -----------------------------------------------------------------------------

    def _current(self, name: str, algorithm: Algorithm) -> _StoredKey:
        keys = self._load(name, algorithm)
        if not keys:
            with self._file_lock():
                keys = self._load(name, algorithm)  # another process may have been first
                if not keys:
                    keys = [self._generate(name, algorithm, 1)]
                    self._write(name, algorithm, keys)
        return keys[-1]

    def _load(self, name: str, algorithm: Algorithm) -> list[_StoredKey]:
        data = self._read(name)
        if data is None:
            return []
        if data["algorithm"] != algorithm:
            raise KeyRingError(f"Key {name!r} is a {data['algorithm']} key, not {algorithm}.")
        return self._unwrap_all(name, data)

    def _read(self, name: str) -> dict[str, Any] | None:
        path = self._private_path(name)
        if not path.exists():
            return None
        data: dict[str, Any] = json.loads(path.read_text())
        return data

    def _unwrap_all(self, name: str, data: dict[str, Any]) -> list[_StoredKey]:
        keys = []
        for entry in data["keys"]:
            try:
                secret = sm4_gcm_decrypt(
                    self._wrapping_key, _unb64(entry["wrapped"]), entry["kid"].encode()
                )
            except DecryptionFailed as exc:
                raise KeyRingError(
                    f"KEY_RING_SECRET does not open key {entry['kid']!r} in {self.directory}: "
                    "the secret is not the one the key ring was made with."
                ) from exc
            keys.append(
                _StoredKey(
                    kid=entry["kid"],
                    created_at=datetime.fromisoformat(entry["created_at"]),
                    retired_at=(
                        datetime.fromisoformat(entry["retired_at"]) if entry["retired_at"] else None
                    ),
                    public_key=_unb64(entry["public_key"]) if entry.get("public_key") else None,
                    secret=secret,
                )
            )
        return keys

    def _generate(self, name: str, algorithm: Algorithm, number: int) -> _StoredKey:
        kid = f"{name}#{number}"
        now = datetime.now(UTC)
        if algorithm == "SM2-SM3":
            private, public = sm2_generate()
            return _StoredKey(kid, now, None, public, private)
        if algorithm == "Ed25519":
            key = Ed25519PrivateKey.generate()
            private = key.private_bytes_raw()
            public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
            return _StoredKey(kid, now, None, public, private)
        return _StoredKey(kid, now, None, None, secrets.token_bytes(_SECRET_BYTES[algorithm]))

    def _write(self, name: str, algorithm: Algorithm, keys: list[_StoredKey]) -> None:
        entries = [
            {
                "kid": key.kid,
                "created_at": key.created_at.isoformat(),
                "retired_at": key.retired_at.isoformat() if key.retired_at else None,
                "public_key": _b64(key.public_key) if key.public_key else None,
                "wrapped": _b64(sm4_gcm_encrypt(self._wrapping_key, key.secret, key.kid.encode())),
            }
            for key in keys
        ]
        _write_atomically(
            self._private_path(name),
            json.dumps({"name": name, "algorithm": algorithm, "keys": entries}, indent=1),
            mode=0o600,
        )
        if algorithm in ("SM2-SM3", "Ed25519"):
            self._publish(name, algorithm, keys)

    def _publish(self, name: str, algorithm: SigningAlgorithm, keys: list[_StoredKey]) -> None:
        path = self.directory / PUBLIC_KEYS_FILE
        existing = json.loads(path.read_text())["keys"] if path.exists() else []
        others = [entry for entry in existing if entry["name"] != name]
        ours = [
            PublicKey(
                key.kid, name, algorithm, key.public_key or b"", key.created_at, key.retired_at
            ).as_json()
            for key in keys
        ]
        merged = sorted(others + ours, key=lambda entry: str(entry["kid"]))
        _write_atomically(path, json.dumps({"keys": merged}, indent=1), mode=0o644)

    def _private_path(self, name: str) -> Path:
        if not name or "/" in name or name.startswith("."):
            raise KeyRingError(f"{name!r} is not a key name.")
        return self.directory / "private" / f"{name}.json"

    @contextmanager
    def _file_lock(self) -> Iterator[None]:
        # Processes of one machine share the folder: one generates or rotates at a time.
        (self.directory / "private").mkdir(parents=True, exist_ok=True)
        with open(self.directory / ".lock", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def _write_atomically(path: Path, text: str, *, mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(f".{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.replace(temporary, path)


@lru_cache(maxsize=8)
def open_key_ring(directory: str, secret: str) -> KeyRing:
    """One KeyRing per folder and secret in a process (they cache keys and public keys)."""
    return KeyRing(Path(directory).resolve(), secret)
