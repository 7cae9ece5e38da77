"""The key ring: the private keys of ONE workload, by name, with rotation.

A folder (`KEY_RING_DIR`) holds one file per key name under `private/`, each key wrapped with
SM4-GCM under a key derived from `KEY_RING_SECRET`. The derivation (`ring.json`, written with
the folder): scrypt over the secret with a random salt of the folder, or, when the secret is 64
hexadecimal characters, those 256 random bits themselves (through HMAC-SM3 with the salt). A
folder made by an older Tongban (an unsalted, unstretched derivation) is refused with what to do.
That storage is shared.crypto.keyfolder's; the signing of trust lists from rings' public keys,
shared.crypto.issuing's.

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

import fcntl
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from shared.crypto import trust
from shared.crypto.issuing import anchor_kids, issue_trust_list, revoke
from shared.crypto.keyfolder import (
    GENERATE_HINT,
    RING_FILE,
    Algorithm,
    KeyFolder,
    KeyRingError,
    SecretAlgorithm,
    StoredKey,
    made_by_an_older_version,
    ring_public_keys,
)
from shared.crypto.sm import sm2_sign
from shared.crypto.trust import (
    AUTHORITY_KEY,
    TRUST_ANCHOR_FILE,
    TRUST_LIST_FILE,
    PublicKey,
    SigningAlgorithm,
    TrustList,
    TrustListError,
)

# The folder's and the issuing's names that the key ring's users have always found here.
__all__ = [
    "RING_FILE",
    "Algorithm",
    "KeyRing",
    "KeyRingError",
    "PublicKey",
    "SecretKeys",
    "Signer",
    "SigningAlgorithm",
    "SoftwareSigner",
    "issue_trust_list",
    "key_name",
    "made_by_an_older_version",
    "open_key_ring",
    "revoke",
    "ring_public_keys",
]

# Where a development ring keeps the development authority's own key ring.
DEVELOPMENT_AUTHORITY_DIR = "authority"


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


class KeyRing(KeyFolder):
    """One workload's keys by name in a folder; safe to share between processes of one machine.
    The folder's storage (wrapping, files, lock) is shared.crypto.keyfolder's."""

    def __init__(
        self,
        directory: Path | str,
        secret: str,
        *,
        development: bool = False,
        trust_list: Path | str | None = None,
        trust_anchor: Path | str | None = None,
    ) -> None:
        super().__init__(Path(directory), secret)
        self.development = development
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

    def _current(self, name: str, algorithm: Algorithm) -> StoredKey:
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

    def _write(self, name: str, algorithm: Algorithm, keys: list[StoredKey]) -> None:
        super()._write(name, algorithm, keys)
        if self.development and algorithm in ("SM2-SM3", "Ed25519"):
            self._issue_development_list()

    # --- development: the ring is its own authority ------------------------------------------

    def _issue_development_list(self) -> None:
        """Development only: the development authority (beside the trust list, so rings of
        several services that share one list share one authority) signs the list again with
        every public key of this folder, keeping what it revoked and the other rings' keys."""
        with self._trust_lock():
            signer = self._development_authority().signer_or_provision(AUTHORITY_KEY)
            anchors = ring_public_keys(self._development_authority().directory)
            if anchor_kids(self.trust.anchor) != {key.kid for key in anchors}:
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
