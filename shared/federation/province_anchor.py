"""This province's anchor made from its key ring: what `tongban federation anchor export` writes
and what `make run PROVINCES=2` imports into the other gateway's trust folder, made the same way.

It names the gateway's `federation` keys and the province's localities' seal keys from the
ring's trust list (current, retired and revoked), which a partner checks this province's
certificates with (contracts/federation.md §2, §15)."""

from __future__ import annotations

from shared.certificates import seal_name
from shared.crypto.keyfolder import ring_public_keys
from shared.crypto.keyring import KeyRing
from shared.federation.anchors import FEDERATION_KEY, Anchor, SealKey, make_anchor
from shared.reference.localities import load_localities, localities_file

SEAL_PREFIX = seal_name("")


def province_anchor(
    ring: KeyRing, *, province: str, name: str, gateway_url: str, valid_days: float
) -> Anchor:
    """`province` (two digits or six) signs with the ring's `federation` key."""
    signer = ring.signer(FEDERATION_KEY)
    keys = {
        key.kid: key.public_key
        for key in ring_public_keys(ring.directory)
        if key.name == FEDERATION_KEY and key.algorithm == "SM2-SM3"
    }
    seals = tuple(
        SealKey(
            kid=key.kid, locality=locality, public_key=key.public_key, revoked_at=key.revoked_at
        )
        for key in ring.public_keys()
        if key.algorithm == "SM2-SM3"
        and key.name.startswith(SEAL_PREFIX)
        and (locality := key.name.removeprefix(SEAL_PREFIX))[:2] == province[:2]
    )
    return make_anchor(
        seals=seals,
        province=province[:2],
        name=name,
        gateway_url=gateway_url,
        signer=signer,
        keys=keys,
        valid_days=valid_days,
    )


def issue_development_seals(ring: KeyRing, province: str) -> None:
    """A development ring makes a key on first use; its anchor names only seals that exist, so
    the seals of every locality of the province are made before it is exported (a production
    ring has the approval groups' seals beforehand: `tongban keys generate`)."""
    code = province[:2] + "0000"
    for locality in load_localities(localities_file(code), province=code):
        ring.signer(seal_name(locality))
