"""Routing's MAC of each ledger entry: its guard of the unsigned tail.

Entries after the latest checkpoint carry no signature (shared.audit.ledger). Someone who can
write routing's database but not read its key ring could otherwise rewrite such an entry, re-hash
it and every entry after it, and routing's next checkpoint would sign the forgery. So each entry
carries HMAC-SM3 over its hash (which covers its fields and the hash before it), keyed with
routing's `ledger-mac` secret, which lives in its key ring and never in the database; routing
checks the MACs of the tail before it signs a checkpoint of it. Only routing can check them:
third parties hold the chain to the published checkpoints.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from shared.crypto.sm import sm3_hmac

# The key ring's name of the secret (HMAC-SM3; routing's only: shared.crypto.workloads).
LEDGER_MAC_KEY = "ledger-mac"
# Said before the hash, so the MAC is of nothing else made with the same key.
_CONTEXT = b"tongban.audit.entry-mac.v1|"


@dataclass(frozen=True)
class EntryMacs:
    """Routing's MAC key: `current` makes new MACs; `keys`, every version, check them (a rotated
    key still checks the MACs it made)."""

    current: bytes
    keys: tuple[bytes, ...]

    def mac(self, hash_: str) -> bytes:
        """The MAC of the entry whose hash is `hash_` (lowercase hex)."""
        return _mac(self.current, hash_)

    def holds(self, hash_: str, mac: bytes | None) -> bool:
        """Whether `mac` is one routing's keys made over `hash_` (None never holds)."""
        if mac is None:
            return False
        return any(hmac.compare_digest(_mac(key, hash_), mac) for key in self.keys)


def _mac(key: bytes, hash_: str) -> bytes:
    return sm3_hmac(key, _CONTEXT + bytes.fromhex(hash_))
