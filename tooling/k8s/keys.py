"""What a workload's pods mount of the keys: its own key ring (exactly the key files it needs,
from a Secret of its own), an approval group's ring (approval's keys and its localities' seals
only), and the public trust list."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from shared.crypto.keyring import RING_FILE
from shared.crypto.workloads import workload_keys

KEY_RING_MOUNT = "/var/lib/tongban/keys"
TRUST_MOUNT = "/etc/tongban/trust"
# Made by the operators from the authority's files (README, "Keys"): public, read-only.
TRUST_CONFIG_MAP = "tongban-trust"
# Holds ring.json and the keys approval holds whichever localities it serves (its `pii`: the
# groups share one database; `sealing-approval`), wrapped under one KEY_RING_SECRET; each
# group's seals are in a Secret of the group's own (`seals_secret`).
APPROVAL_KEYS_SECRET = "tongban-keys-approval"
_READ_ONLY = 0o440  # owner root, group fsGroup (10001): the service reads, nobody writes


def keys_secret(workload: str) -> str:
    """The Secret holding a workload's key ring files and its KEY_RING_SECRET."""
    return f"tongban-keys-{workload}"


def seals_secret(group: str) -> str:
    return f"tongban-seals-city-{group}"


def _items(names: Iterable[str], *, ring_file: bool) -> list[dict[str, str]]:
    """Secret keys (a file name each) → where the key ring reads them."""
    items = [{"key": RING_FILE, "path": RING_FILE}] if ring_file else []
    return items + [{"key": f"{name}.json", "path": f"private/{name}.json"} for name in names]


def key_ring_volume(workload: str, *, only: Iterable[str] | None = None) -> dict[str, Any]:
    """The read-only volume of a service's own key ring: exactly the key files it needs (or
    `only` those, e.g. a migration's `pii`)."""
    names = sorted(only if only is not None else workload_keys(workload))
    return {
        "name": "keys",
        "secret": {
            "secretName": keys_secret(workload),
            "defaultMode": _READ_ONLY,
            "items": _items(names, ring_file=True),
        },
    }


def approval_key_ring_volume(group: str, localities: list[str]) -> dict[str, Any]:
    """An approval group's ring: approval's own keys and the seals of its localities only."""
    names = workload_keys("approval", localities)
    seals = sorted(name for name in names if name.startswith("seal-"))
    shared = sorted(name for name in names if not name.startswith("seal-"))
    return {
        "name": "keys",
        "projected": {
            "defaultMode": _READ_ONLY,
            "sources": [
                {"secret": {"name": APPROVAL_KEYS_SECRET, "items": _items(shared, ring_file=True)}},
                {"secret": {"name": seals_secret(group), "items": _items(seals, ring_file=False)}},
            ],
        },
    }


def trust_volume() -> dict[str, Any]:
    return {
        "name": "trust",
        "configMap": {
            "name": TRUST_CONFIG_MAP,
            "items": [
                {"key": "trust-list.json", "path": "trust-list.json"},
                {"key": "trust-anchor.json", "path": "trust-anchor.json"},
            ],
        },
    }


def key_mounts() -> list[dict[str, Any]]:
    return [
        {"name": "keys", "mountPath": KEY_RING_MOUNT, "readOnly": True},
        {"name": "trust", "mountPath": TRUST_MOUNT, "readOnly": True},
    ]
