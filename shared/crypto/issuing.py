"""Trust lists issued from the key rings' public keys: by the province key authority
(`tongban keys issue`, `tongban keys revoke`) or, in development, by the development authority
the key ring keeps beside the list (shared.crypto.keyring)."""

from __future__ import annotations

from contextlib import suppress
from datetime import datetime
from pathlib import Path

from shared.crypto import trust
from shared.crypto.keyfolder import KeyRingError
from shared.crypto.trust import PublicKey, TrustList, TrustListError


def anchor_kids(path: Path) -> set[str]:
    """The key ids the trust anchor at `path` names (none when there is no good anchor)."""
    try:
        return set(trust.read_anchors(path))
    except TrustListError:
        return set()


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
