"""The localities' electronic seals (电子印章) as approval holds them: key ring keys
`seal-<locality>`, the same keys approval signs its events with (shared.messaging.signing).

The key ring hands out a `Signer`, the interface a hardware cryptographic module implements in
production; nothing here needs the private key itself.
"""

from __future__ import annotations

from shared.certificates import seal_name
from shared.crypto.keyring import KeyRing, PublicKey, Signer, key_name

SEAL_PREFIX = seal_name("")


class Seals:
    """Every locality's seal in one key ring: the current signer of one, the public keys of all."""

    def __init__(self, ring: KeyRing) -> None:
        self.ring = ring

    def signer(self, locality: str) -> Signer:
        """The locality's current seal (the key ring notices a rotation made elsewhere)."""
        return self.ring.signer(seal_name(locality))

    def public_keys(self) -> list[PublicKey]:
        """The seal keys of every locality in the trust list, current, retired and revoked,
        by key id."""
        return [key for key in self.ring.public_keys() if key.name.startswith(SEAL_PREFIX)]


def locality_of(key: PublicKey) -> str:
    return key_name(key.kid).removeprefix(SEAL_PREFIX)
