"""The key ring: the private keys of ONE workload, by name, with rotation.

A folder (`KEY_RING_DIR`) holds one file per key name under `private/`, each key wrapped with
SM4-GCM under a key derived from `KEY_RING_SECRET`. The derivation (`ring.json`, written with
the folder): scrypt over the secret with a random salt of the folder, or, when the secret is 64
hexadecimal characters, those 256 random bits themselves (through HMAC-SM3 with the salt). A
folder made by an older Tongban (an unsalted, unstretched derivation) is refused with what to do.

Each deployment has its own ring with only its own keys (`tongban keys generate --workload W`):
a service's event key (`intake`, `routing`, `delivery`), an approval group's seals
(`seal-<locality>`, only of the localities it serves), and the personal-data keys of
`shared.crypto.personal` (`pii`, `sealing-<service>`). Outside development a key is never made
on first use: a missing one is a `KeyRingError` naming it, and every service checks at start
the keys it will need (`require`, shared.crypto.workloads).

Public keys are not the ring's business: verifiers read the trust list the province key
authority issues and signs (shared.crypto.trust), which no service writes. `public_key` and
`public_keys` here are that list. In development (`development=True`: `make run`, the tests)
one folder may hold every service's keys, and the ring is also the development authority: it
makes a development authority key (under `authority/` beside the trust list) and re-issues the
list whenever it generates or rotates a key, so nothing needs a manual step (rings of several
services may share one list: docker-compose.yml).

`Signer` is the interface a hardware cryptographic module implements in production: it is
asked to sign bytes and names its key id; the private key never has to leave it.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import re
import secrets
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any, Literal, Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from shared.crypto import trust
from shared.crypto.sm import (
    DecryptionFailed,
    sm2_generate,
    sm2_sign,
    sm3_hmac,
    sm4_gcm_decrypt,
    sm4_gcm_encrypt,
)
from shared.crypto.trust import (
    AUTHORITY_KEY,
    TRUST_ANCHOR_FILE,
    TRUST_LIST_FILE,
    PublicKey,
    SigningAlgorithm,
    TrustList,
    TrustListError,
    write_atomically,
)

__all__ = [
    "Algorithm",
    "KeyRing",
    "KeyRingError",
    "PublicKey",
    "SecretKeys",
    "Signer",
    "SigningAlgorithm",
    "SoftwareSigner",
    "key_name",
    "open_key_ring",
    "ring_public_keys",
]

SecretAlgorithm = Literal["SM4", "HMAC-SM3"]
Algorithm = SigningAlgorithm | SecretAlgorithm
_SECRET_BYTES: dict[str, int] = {"SM4": 16, "HMAC-SM3": 32}
RING_FILE = "ring.json"
RING_FORMAT = "tongban.key-ring.v2"
# scrypt's cost (RFC 7914): about 32 MiB and a tenth of a second, once per process and ring.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1
_RANDOM_SECRET = re.compile(r"[0-9a-fA-F]{64}")
# Where a development ring keeps the development authority's own key ring.
DEVELOPMENT_AUTHORITY_DIR = "authority"
GENERATE_HINT = "tongban keys generate --workload {workload}"


class KeyRingError(RuntimeError):
    """The key ring cannot give the key asked for; the message says what to do."""


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), validate=True)


def key_name(kid: str) -> str:
    """`seal-340100#2` → `seal-340100`: the name whose holder a key id speaks for."""
    return kid.rpartition("#")[0] or kid


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
    """One workload's keys by name in a folder; safe to share between processes of one machine."""

    def __init__(
        self,
        directory: Path | str,
        secret: str,
        *,
        development: bool = False,
        trust_list: Path | str | None = None,
        trust_anchor: Path | str | None = None,
    ) -> None:
        self.directory = Path(directory)
        self.development = development
        self._secret = secret
        self._wrapping: bytes | None = None
        self._lock = threading.Lock()
        self._signers: dict[str, SoftwareSigner] = {}
        self._secrets: dict[str, SecretKeys] = {}
        self.trust = TrustList(
            trust_list or self.directory / TRUST_LIST_FILE,
            trust_anchor or self.directory / TRUST_ANCHOR_FILE,
        )

    # --- signing keys ------------------------------------------------------------------------

    def signer(self, name: str, algorithm: SigningAlgorithm = "SM2-SM3") -> SoftwareSigner:
        """The current signing key of `name` (generated on first use in development only). A
        process keeps the signers it used; when the trust list says that key was retired or
        revoked meanwhile (an operator's rotation), the ring is read again: nothing is signed
        with a key the verifiers would refuse while the ring holds a newer one. (A stat of the
        trust list per call; it is read again only when it changed.)"""
        known = self._signers.get(name)
        if known is not None and not self._ended(known.kid):
            return known
        with self._lock:
            self._signers.pop(name, None)
            self._secrets.pop(name, None)
            stored = self._current(name, algorithm)
            signer = SoftwareSigner(stored.kid, algorithm, stored.secret)
            self._signers[name] = signer
            return signer

    def secret(self, name: str, algorithm: SecretAlgorithm = "SM4") -> SecretKeys:
        """Every version of the symmetric key `name`, the newest current."""
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
        still opens. Its public halves reach senders through the trust list."""
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

    def missing(self, wanted: Mapping[str, Algorithm]) -> list[str]:
        """The names of `wanted` this ring has no key of (or a key of another algorithm)."""
        absent = []
        for name, algorithm in sorted(wanted.items()):
            data = self._read(name)
            if data is None or data["algorithm"] != algorithm:
                absent.append(name)
        return absent

    def provision(self, name: str, algorithm: Algorithm) -> tuple[str, bool]:
        """Make the key `name` unless the ring has one (an operator's explicit step, in any
        mode); its current key id, and whether it was made now."""
        with self._lock, self._file_lock():
            keys = self._load(name, algorithm)
            if keys:
                return keys[-1].kid, False
            keys = [self._generate(name, algorithm, 1)]
            self._write(name, algorithm, keys)
            return keys[0].kid, True

    def rotate(self, name: str) -> str:
        """Retire the current key of `name` (kept, to verify or decrypt what it made) and make
        a new current one; the new key id. Outside development the trust list says so only
        once the authority issues it again (`tongban keys issue`)."""
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

    # --- public keys: the trust list ---------------------------------------------------------

    def public_keys(self) -> list[PublicKey]:
        """Every key of the trust list (current, retired and revoked)."""
        try:
            return self.trust.keys()
        except TrustListError:
            if self._no_list_yet():
                return []
            raise

    def public_key(self, kid: str) -> PublicKey | None:
        """The trust list's entry for `kid` (read again when the file changed)."""
        try:
            return self.trust.key(kid)
        except TrustListError:
            if self._no_list_yet():
                return None
            raise

    def _no_list_yet(self) -> bool:
        # Development: the list appears with the first key made; until then it trusts nothing.
        return self.development and not self.trust.path.exists()

    def verify(
        self, kid: str, message: bytes, signature: bytes, signed_at: datetime | None = None
    ) -> bool:
        """`signature` by `kid` over `message`; when `signed_at` is given, also that the key
        was neither revoked nor retired by then."""
        key = self.public_key(kid)
        if key is None or (signed_at is not None and not key.usable(signed_at)):
            return False
        return key.verify(message, signature)

    def _ended(self, kid: str) -> bool:
        try:
            key = self.public_key(kid)
        except TrustListError:
            return False  # the startup check refuses a ring without a good list
        return key is not None and key.status != "current"

    # --- storage -----------------------------------------------------------------------------

    def _current(self, name: str, algorithm: Algorithm) -> _StoredKey:
        keys = self._load(name, algorithm)
        if not keys:
            if not self.development:
                raise KeyRingError(
                    f"There is no key {name!r} in the key ring {self.directory}, and outside "
                    "development none is made on first use: the operators make it "
                    f"(`{GENERATE_HINT.format(workload='<workload>')}`, see README)."
                )
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
        if self.development and algorithm in ("SM2-SM3", "Ed25519"):
            self._issue_development_list()

    def _issue_development_list(self) -> None:
        """Development only: the development authority (beside the trust list, so rings of
        several services that share one list share one authority) signs the list again with
        every public key of this folder, keeping what it revoked and the other rings' keys."""
        with self._trust_lock():
            signer = self._development_authority().signer_or_provision(AUTHORITY_KEY)
            anchors = ring_public_keys(self._development_authority().directory)
            if _anchor_kids(self.trust.anchor) != {key.kid for key in anchors}:
                trust.write_anchor(anchors, self.trust.anchor)
            issue_trust_list(ring_public_keys(self.directory), signer, self.trust)

    def revoke(self, kid: str, at: datetime) -> None:
        """Development only: the development authority revokes `kid` as of `at` (elsewhere the
        province key authority does, `tongban keys revoke`)."""
        if not self.development:
            raise KeyRingError("Only the province key authority revokes: tongban keys revoke.")
        with self._lock, self._file_lock():
            self._issue_development_list()  # the list exists and names every key of the folder
            with self._trust_lock():
                signer = self._development_authority().signer(AUTHORITY_KEY)
                revoke(self.trust, kid, at, signer)

    def _development_authority(self) -> KeyRing:
        directory = self.trust.path.parent / DEVELOPMENT_AUTHORITY_DIR
        return open_key_ring(str(directory), self._secret)

    @contextmanager
    def _trust_lock(self) -> Iterator[None]:
        # Development rings sharing one list issue it one at a time (a file of its own: the
        # ring's lock may be this very folder's, and is already held).
        self.trust.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.trust.path.parent / ".trust-list.lock", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def signer_or_provision(self, name: str) -> SoftwareSigner:
        """The authority's own signer, made if missing (`tongban keys authority-init` and the
        development authority: an explicit decision to have an authority here)."""
        self.provision(name, "SM2-SM3")
        return self.signer(name)

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


def _anchor_kids(path: Path) -> set[str]:
    try:
        return set(trust.read_anchors(path))
    except TrustListError:
        return set()


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


def issue_trust_list(
    collected: list[PublicKey], authority: trust.AuthoritySigner, target: TrustList
) -> list[PublicKey]:
    """Sign a new list at `target.path`: the keys `collected` from the workloads' rings, with
    what the previous list there revoked kept revoked, and its keys that no ring given holds
    kept as they were (a list issued from some rings does not drop the others')."""
    previous: dict[str, PublicKey] = {}
    with suppress(TrustListError):
        previous = {key.kid: key for key in trust.load(target.path, target.anchor)}
    keys = {key.kid: key for key in previous.values()}
    for key in collected:
        earlier = previous.get(key.kid)
        if earlier is not None and earlier.public_key != key.public_key:
            raise KeyRingError(
                f"{key.kid} in a ring is not the key the trust list names: a ring was made "
                "anew under an existing key id; rotate instead."
            )
        keys[key.kid] = key.revoked(earlier.revoked_at) if earlier and earlier.revoked_at else key
    trust.issue(keys.values(), authority, target.path)
    return sorted(keys.values(), key=lambda key: key.kid)


def revoke(
    target: TrustList, kid: str, at: datetime, authority: trust.AuthoritySigner
) -> PublicKey:
    """Sign the list at `target` again with `kid` revoked as of `at` (or earlier, if it was)."""
    keys = {key.kid: key for key in trust.load(target.path, target.anchor)}
    if kid not in keys:
        raise KeyRingError(f"The trust list {target.path} names no key {kid!r}.")
    keys[kid] = keys[kid].revoked(at)
    trust.issue(keys.values(), authority, target.path)
    return keys[kid]


@lru_cache(maxsize=8)
def open_key_ring(
    directory: str,
    secret: str,
    development: bool = False,
    trust_list: str | None = None,
    trust_anchor: str | None = None,
) -> KeyRing:
    """One KeyRing per folder and secret in a process (they cache keys and the trust list)."""
    return KeyRing(
        Path(directory).resolve(),
        secret,
        development=development,
        trust_list=Path(trust_list).resolve() if trust_list else None,
        trust_anchor=Path(trust_anchor).resolve() if trust_anchor else None,
    )
