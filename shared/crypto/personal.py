"""Personal data (names, ID numbers, phones, addresses): encrypted at rest, sealed in transit.

One object, `PersonalData`, over the process's key ring, does the three things services need:

- **At rest** (`encrypt` / `decrypt`, `encrypt_json` / `decrypt_json`, and `seal_fields` /
  `open_fields` for the personal parts of a stored document): SM4-GCM under the current version
  of the key ring's `pii` key. A value is stored as the text token
  `sm4gcm:<kid>:<base64 of nonce ‖ ciphertext ‖ tag>`; the key id travels with it, so after
  `KeyRing.rotate("pii")` new values use the new key and old ones still decrypt. The AAD is
  the key id and the value's *place* (`place("intake.applications.applicant", application_no)`):
  a ciphertext copied to another row or column does not decrypt (`DecryptionFailed`).
- **Blind index** (`index`): a keyed SM3-HMAC (key ring key `pii-index`) of the normalized
  value, hex, for a column that must be looked up by equality without being readable. The same
  value gives the same index under the same key; without the key it reveals nothing (an ID
  number has too little entropy for an unkeyed hash). Rotating `pii-index` means re-indexing.
- **Sealed for a recipient service** (`seal_for` / `unseal`): what must cross a province-wide
  topic (an application for routing, a postal address for delivery) goes encrypted to the
  recipient: an SM4 content key encrypts the JSON (SM4-GCM, a fresh random nonce per message,
  AAD: recipient key id and a context such as the application number), and that key is
  encrypted to the recipient's SM2 public key (key ring name `sealing-<service>`,
  `KeyRing.decryption_keys`). A sealed value is a plain dict {`recipient`, `key`, `ciphertext`}
  (the `Sealed` event model has the same fields).

  SM2 encryption and decryption cost about 0.5 ms each, more than everything else an accepted
  application's sealing does: a sender therefore uses one content key (and its SM2-wrapped
  form) for at most `SEAL_KEY_USES` messages or `SEAL_KEY_SECONDS` per recipient key, and a
  recipient remembers the content keys of the last `OPENED_KEYS` wrapped keys it opened. What a
  leaked content key exposes is thus bounded to those messages; each message keeps its own
  nonce and its context in the AAD, so none can be moved to another application.

Each service's ring holds its own sealing key pair (`PersonalData.ensure_own_key`); senders take
the recipient's one *current* key from the trust list the province key authority signs
(shared.crypto.trust), never whatever key a folder holds. In development a sender whose
recipient has not started yet creates the pair in the shared folder (`create_missing_recipients`),
which issues the development trust list again.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import time
import unicodedata
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from typing import Any

from gmalglib.sm2 import SM2

from shared.crypto.keyring import KeyRing, KeyRingError, key_name
from shared.crypto.sm import (
    SM4_KEY_BYTES,
    DecryptionFailed,
    sm3_hmac,
    sm4_gcm_decrypt,
    sm4_gcm_encrypt,
)

__all__ = [
    "APPLICATION_FIELDS",
    "DecryptionFailed",
    "PersonalData",
    "is_token",
    "place",
    "sealing_key_name",
]

PII_KEY = "pii"
INDEX_KEY = "pii-index"
TOKEN_PREFIX = "sm4gcm:"
# How long a sender seals with one content key per recipient key (see the module's text).
SEAL_KEY_USES = 1000
SEAL_KEY_SECONDS = 60.0
# Content keys a recipient remembers, by the wrapped key they came in.
OPENED_KEYS = 256
# The parts of an application (as accepted, routed or reviewed) that hold personal data.
APPLICATION_FIELDS = ("applicant", "delivery", "agent")


def place(where: str, key: str) -> str:
    """Where a value lives, e.g. `place("approval.cases.application", "A340...")`: bound into
    its AAD, so it decrypts there only."""
    return f"{where}:{key}"


def sealing_key_name(service: str) -> str:
    return f"sealing-{service}"


def is_token(value: object) -> bool:
    """True for a value `encrypt` made (as opposed to data still in clear)."""
    return isinstance(value, str) and value.startswith(TOKEN_PREFIX)


def _canonical(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _unb64(text: str) -> bytes:
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise DecryptionFailed("not base64") from exc


class PersonalData:
    """The field cipher, blind index and sealing of one process (see the module's text)."""

    def __init__(
        self,
        ring: KeyRing,
        *,
        service: str | None = None,
        create_missing_recipients: bool = False,
    ) -> None:
        self.ring = ring
        self.service = service
        self.create_missing_recipients = create_missing_recipients
        # recipient key id -> (content key, its wrapped form, made at (monotonic), uses left)
        self._sealing: dict[str, tuple[bytes, str, float, int]] = {}
        # (own key id, wrapped key) -> content key, the most recently opened last
        self._opened: OrderedDict[tuple[str, str], bytes] = OrderedDict()
        # own key id -> its SM2 object (making one from the secret key derives the public key)
        self._own_sm2: dict[str, SM2] = {}

    # --- at rest -----------------------------------------------------------------------------

    def encrypt(self, value: str, *, where: str) -> str:
        keys = self.ring.secret(PII_KEY, "SM4")
        aad = self._aad(keys.current, where)
        sealed = sm4_gcm_encrypt(keys.current_key, value.encode(), aad)
        return f"{TOKEN_PREFIX}{keys.current}:{_b64(sealed)}"

    def decrypt(self, token: str, *, where: str) -> str:
        """The clear text of `token` stored at `where`; DecryptionFailed if it was altered, made
        for another place, or under a key this ring does not have."""
        if not is_token(token):
            raise DecryptionFailed("not an encrypted value")
        kid, _, body = token[len(TOKEN_PREFIX) :].rpartition(":")
        if key_name(kid) != PII_KEY:
            raise DecryptionFailed(f"not a {PII_KEY} key: {kid!r}")
        keys = self.ring.secret(PII_KEY, "SM4")
        if kid not in keys.keys:
            self.ring.forget(PII_KEY)  # rotated by another process since we read the ring
            keys = self.ring.secret(PII_KEY, "SM4")
        if kid not in keys.keys:
            raise DecryptionFailed(f"the key ring has no key {kid!r}")
        return sm4_gcm_decrypt(keys.keys[kid], _unb64(body), self._aad(kid, where)).decode()

    def encrypt_json(self, value: Any, *, where: str) -> str:
        return self.encrypt(_canonical(value).decode(), where=where)

    def decrypt_json(self, token: str, *, where: str) -> Any:
        return json.loads(self.decrypt(token, where=where))

    def encrypt_optional(self, value: Any, *, where: str) -> str | None:
        """`encrypt_json` of a value that may be absent (None stays None)."""
        return None if value is None else self.encrypt_json(value, where=where)

    def decrypt_optional(self, token: str | None, *, where: str) -> Any:
        return None if token is None else self.decrypt_json(token, where=where)

    def seal_fields(
        self, document: Mapping[str, Any], *, where: str, fields: Iterable[str] = APPLICATION_FIELDS
    ) -> dict[str, Any]:
        """A copy of `document` whose `fields` (when present and not None) are encrypted, each
        bound to `where` and its own name; the rest stays readable."""
        sealed = dict(document)
        for name in fields:
            if sealed.get(name) is not None and not is_token(sealed[name]):
                sealed[name] = self.encrypt_json(sealed[name], where=f"{where}.{name}")
        return sealed

    def open_fields(
        self, document: Mapping[str, Any], *, where: str, fields: Iterable[str] = APPLICATION_FIELDS
    ) -> dict[str, Any]:
        """The inverse of `seal_fields`."""
        opened = dict(document)
        for name in fields:
            if is_token(opened.get(name)):
                opened[name] = self.decrypt_json(opened[name], where=f"{where}.{name}")
        return opened

    @staticmethod
    def _aad(kid: str, where: str) -> bytes:
        return f"tongban personal data|{kid}|{where}".encode()

    # --- blind index -------------------------------------------------------------------------

    def index(self, value: str, *, kind: str) -> str:
        """Keyed SM3-HMAC (hex) of the normalized value (NFKC, no whitespace, upper case): equal
        for equal values of one `kind` (`id_number`, `phone`), unlinkable across kinds."""
        keys = self.ring.secret(INDEX_KEY, "HMAC-SM3")
        normalized = "".join(unicodedata.normalize("NFKC", value).split()).upper()
        return sm3_hmac(keys.current_key, f"{kind}|{normalized}".encode()).hex()

    # --- sealed for a recipient service ------------------------------------------------------

    def ensure_own_key(self) -> str:
        """Create this service's sealing key pair if it has none; its current key id."""
        if self.service is None:
            raise KeyRingError("PersonalData was made without a service: it has no sealing key.")
        return self.ring.decryption_keys(sealing_key_name(self.service)).current

    def seal_for(self, recipient: str, value: Any, *, context: str) -> dict[str, str]:
        """`value` (JSON) encrypted for the service `recipient` only; `context` (e.g. the
        application number) must be given again to open it."""
        kid, public_key = self._recipient_key(recipient)
        content_key, wrapped = self._content_key(kid, public_key)
        ciphertext = sm4_gcm_encrypt(content_key, _canonical(value), self._seal_aad(kid, context))
        return {"recipient": kid, "key": wrapped, "ciphertext": _b64(ciphertext)}

    def _content_key(self, kid: str, public_key: bytes) -> tuple[bytes, str]:
        """The content key to seal with for recipient key `kid`, and its wrapped form: a new
        one after SEAL_KEY_USES messages or SEAL_KEY_SECONDS."""
        now = time.monotonic()
        held = self._sealing.get(kid)
        if held is not None:
            content_key, wrapped, made_at, uses_left = held
            if uses_left > 0 and now - made_at < SEAL_KEY_SECONDS:
                self._sealing[kid] = (content_key, wrapped, made_at, uses_left - 1)
                return content_key, wrapped
        content_key = os.urandom(SM4_KEY_BYTES)
        wrapped = _b64(SM2(pk=public_key).encrypt(content_key))
        self._sealing[kid] = (content_key, wrapped, now, SEAL_KEY_USES - 1)
        return content_key, wrapped

    def unseal(self, sealed: Mapping[str, str], *, context: str) -> Any:
        """What `seal_for(<this service>, ...)` sealed; DecryptionFailed if it was sealed for
        another service or context, or altered."""
        if self.service is None:
            raise DecryptionFailed("PersonalData was made without a service: it opens nothing.")
        kid = sealed.get("recipient", "")
        name = sealing_key_name(self.service)
        if key_name(kid) != name:
            raise DecryptionFailed(f"sealed for {kid!r}, not for {name}")
        keys = self.ring.decryption_keys(name)
        if kid not in keys.keys:
            self.ring.forget(name)
            keys = self.ring.decryption_keys(name)
        if kid not in keys.keys:
            raise DecryptionFailed(f"the key ring has no key {kid!r}")
        content_key = self._opened_key(kid, keys.keys[kid], sealed.get("key", ""))
        clear = sm4_gcm_decrypt(
            content_key, _unb64(sealed.get("ciphertext", "")), self._seal_aad(kid, context)
        )
        return json.loads(clear)

    def _opened_key(self, kid: str, secret: bytes, wrapped: str) -> bytes:
        """The content key `wrapped` holds, opened with own key `kid` (remembered: a sender
        wraps one content key for many messages)."""
        known = self._opened.get((kid, wrapped))
        if known is not None:
            self._opened.move_to_end((kid, wrapped))
            return known
        sm2 = self._own_sm2.get(kid)
        if sm2 is None:
            sm2 = self._own_sm2[kid] = SM2(sk=secret)
        try:
            content_key: bytes = sm2.decrypt(_unb64(wrapped))
        except Exception as exc:  # gmalglib: ValueError, or MemoryError on a garbled length
            raise DecryptionFailed("the sealed key does not open") from exc
        self._opened[(kid, wrapped)] = content_key
        while len(self._opened) > OPENED_KEYS:
            self._opened.popitem(last=False)
        return content_key

    def _recipient_key(self, recipient: str) -> tuple[str, bytes]:
        """The recipient's one current key as the trust list names it: never a key merely
        found (a key planted in a folder is in no list the authority signed)."""
        name = sealing_key_name(recipient)
        current = self.ring.trust.current(name) if self.ring.trust.path.exists() else None
        if current is None and self.create_missing_recipients:
            self.ring.decryption_keys(name)  # development: made, and the list issued again
            current = self.ring.trust.current(name)
        if current is None:
            raise KeyRingError(
                f"The trust list {self.ring.trust.path} names no current key {name!r}: the "
                f"authority issues it once {recipient}'s key is made (tongban keys issue)."
            )
        return current.kid, current.public_key

    @staticmethod
    def _seal_aad(kid: str, context: str) -> bytes:
        return f"tongban sealed|{kid}|{context}".encode()
