"""A key ring's folder as stored: one file per key name under `private/`, each key wrapped
with SM4-GCM under a key derived from `KEY_RING_SECRET` (`ring.json` says how, written with the
folder), and the lock the processes of one machine that share the folder take turns with.

What the keys are for (signers, secrets, the trust list, the development authority) is the
key ring's business (shared.crypto.keyring), which is a KeyFolder with those; the folder knows
how keys are generated, wrapped, written and read back, and nothing else.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import re
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from shared.crypto.sm import (
    DecryptionFailed,
    sm2_generate,
    sm3_hmac,
    sm4_gcm_decrypt,
    sm4_gcm_encrypt,
)
from shared.crypto.trust import PublicKey, SigningAlgorithm, write_atomically

SecretAlgorithm = Literal["SM4", "HMAC-SM3"]
Algorithm = SigningAlgorithm | SecretAlgorithm
_SECRET_BYTES: dict[str, int] = {"SM4": 16, "HMAC-SM3": 32}
RING_FILE = "ring.json"
RING_FORMAT = "tongban.key-ring.v2"
# scrypt's cost (RFC 7914): about 32 MiB and a tenth of a second, once per process and ring.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1
_RANDOM_SECRET = re.compile(r"[0-9a-fA-F]{64}")
GENERATE_HINT = "tongban keys generate --workload {workload}"


class KeyRingError(RuntimeError):
    """The key ring cannot give the key asked for; the message says what to do."""


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), validate=True)


@dataclass
class StoredKey:
    """One version of a key as the folder holds it, unwrapped."""

    kid: str
    created_at: datetime
    retired_at: datetime | None
    public_key: bytes | None
    secret: bytes  # the private or symmetric key, unwrapped


class KeyFolder:
    """The wrapped keys of one folder, by name (generated, written, read back and unwrapped)."""

    def __init__(self, directory: Path, secret: str) -> None:
        self.directory = directory
        self._secret = secret
        self._wrapping: bytes | None = None

    def _load(self, name: str, algorithm: Algorithm) -> list[StoredKey]:
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

    def _unwrap_all(self, name: str, data: dict[str, Any]) -> list[StoredKey]:
        wrapping = self._wrapping_key()
        keys = []
        for entry in data["keys"]:
            try:
                secret = sm4_gcm_decrypt(wrapping, _unb64(entry["wrapped"]), entry["kid"].encode())
            except DecryptionFailed as exc:
                raise KeyRingError(
                    f"KEY_RING_SECRET does not open key {entry['kid']!r} in {self.directory}: "
                    "the secret is not the one the key ring was made with."
                ) from exc
            keys.append(
                StoredKey(
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

    def _generate(self, name: str, algorithm: Algorithm, number: int) -> StoredKey:
        kid = f"{name}#{number}"
        now = datetime.now(UTC)
        if algorithm == "SM2-SM3":
            private, public = sm2_generate()
            return StoredKey(kid, now, None, public, private)
        if algorithm == "Ed25519":
            key = Ed25519PrivateKey.generate()
            private = key.private_bytes_raw()
            public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
            return StoredKey(kid, now, None, public, private)
        return StoredKey(kid, now, None, None, secrets.token_bytes(_SECRET_BYTES[algorithm]))

    def _write(self, name: str, algorithm: Algorithm, keys: list[StoredKey]) -> None:
        wrapping = self._wrapping_key()
        entries = [
            {
                "kid": key.kid,
                "created_at": key.created_at.isoformat(),
                "retired_at": key.retired_at.isoformat() if key.retired_at else None,
                "public_key": _b64(key.public_key) if key.public_key else None,
                "wrapped": _b64(sm4_gcm_encrypt(wrapping, key.secret, key.kid.encode())),
            }
            for key in keys
        ]
        write_atomically(
            self._private_path(name),
            json.dumps({"name": name, "algorithm": algorithm, "keys": entries}, indent=1),
            mode=0o600,
        )

    def _wrapping_key(self) -> bytes:
        if self._wrapping is None:
            self._wrapping = _derive(self._secret, self._ring_parameters())
        return self._wrapping

    def _ring_parameters(self) -> dict[str, Any]:
        path = self.directory / RING_FILE
        with suppress(FileNotFoundError):
            parameters: dict[str, Any] = json.loads(path.read_text())
            return parameters
        if made_by_an_older_version(self.directory):
            raise KeyRingError(
                f"The key ring {self.directory} was made by an older Tongban, whose wrapping key "
                "was not salted nor stretched; it is not opened. In development delete the "
                "folder (its keys are made again); elsewhere make the workload's keys anew "
                f"(`{GENERATE_HINT.format(workload='<workload>')}` into an empty folder, then "
                "`tongban keys issue`) and retire the old ones."
            )
        kdf = "random-256" if _RANDOM_SECRET.fullmatch(self._secret) else "scrypt"
        parameters = {"format": RING_FORMAT, "kdf": kdf, "salt": _b64(secrets.token_bytes(16))}
        if kdf == "scrypt":
            parameters |= {"n": SCRYPT_N, "r": SCRYPT_R, "p": SCRYPT_P}
        # Made once, whichever process is first (link fails when the file exists meanwhile).
        self.directory.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
        temporary.write_text(json.dumps(parameters, indent=1))
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass
        finally:
            temporary.unlink()
        made: dict[str, Any] = json.loads(path.read_text())
        return made

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


def made_by_an_older_version(directory: Path) -> bool:
    """Whether `directory` is a key ring of the old format (keys, and no ring.json)."""
    return not (directory / RING_FILE).exists() and any((directory / "private").glob("*.json"))


def _derive(secret: str, parameters: dict[str, Any]) -> bytes:
    """The 16-byte SM4 key that wraps the ring's keys."""
    if parameters.get("format") != RING_FORMAT:
        raise KeyRingError(f"{RING_FILE} is not a {RING_FORMAT}: {parameters.get('format')!r}")
    salt = _unb64(parameters["salt"])
    if parameters["kdf"] == "random-256":
        if not _RANDOM_SECRET.fullmatch(secret):
            raise KeyRingError(
                "This key ring was made with a KEY_RING_SECRET of 64 hexadecimal characters "
                "(256 random bits); the secret given is not one."
            )
        return sm3_hmac(bytes.fromhex(secret), b"tongban key ring: wrapping key|" + salt)[:16]
    if parameters["kdf"] != "scrypt":
        raise KeyRingError(f"Unknown key-ring derivation {parameters['kdf']!r}.")
    kdf = Scrypt(salt=salt, length=16, n=parameters["n"], r=parameters["r"], p=parameters["p"])
    return kdf.derive(secret.encode())


def ring_public_keys(directory: Path) -> list[PublicKey]:
    """The public halves of a ring's signing and sealing keys, read without its secret (they
    are stored in clear): what the authority collects to issue a trust list."""
    found = []
    for path in sorted((directory / "private").glob("*.json")):
        data = json.loads(path.read_text())
        if data["algorithm"] not in ("SM2-SM3", "Ed25519"):
            continue
        for entry in data["keys"]:
            if entry.get("public_key"):
                found.append(
                    PublicKey(
                        kid=entry["kid"],
                        name=data["name"],
                        algorithm=data["algorithm"],
                        public_key=_unb64(entry["public_key"]),
                        valid_from=datetime.fromisoformat(entry["created_at"]),
                        retired_at=(
                            datetime.fromisoformat(entry["retired_at"])
                            if entry["retired_at"]
                            else None
                        ),
                    )
                )
    return found
