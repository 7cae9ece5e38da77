"""Which private keys each workload holds, and the check a service makes before it starts.

One list, used by the services at start (`check_workload_keys`), by `tongban keys generate`
(what to make for a workload) and by the Kubernetes generator (which key files a workload's
Secret carries): nothing else decides who holds what.

- every service: `pii` (its own data at rest; never compared across services) and
  `sealing-<service>` (what others seal personal data to it with);
- intake, routing, delivery, consultation: their event key, the service's name (routing's
  also signs its audit ledger's checkpoints);
- routing: `ledger-mac` too (HMAC-SM3), the MAC of each ledger entry until a checkpoint signs
  it (shared.audit.ledger.EntryMacs);
- approval: `seal-<locality>` of the localities the instance serves (`APPROVAL_LOCALITIES`),
  its event signatures and documents' seals; no key of its own besides;
- federation (the gateway, services/federation): `federation` alone, which signs its messages
  to partner provinces, the anchor partners trust, and its events inside the province. It
  keeps no personal data encrypted at rest yet and nothing is sealed to it, so no `pii` and no
  sealing key (contracts/federation.md §11).

No private key is shared by two workloads. (The ID-number digest key, `PII_DIGEST_KEY`, which
intake, approval and delivery must agree on to compare digests, is a setting, not a ring key.)
"""

from __future__ import annotations

from collections.abc import Iterable

from shared.audit.macs import LEDGER_MAC_KEY
from shared.crypto.keyring import Algorithm, KeyRing, KeyRingError
from shared.crypto.personal import PII_KEY, sealing_key_name
from shared.crypto.trust import TrustListError

WORKLOADS = ("intake", "routing", "approval", "delivery", "consultation", "federation")


def seal_key(locality: str) -> str:
    return f"seal-{locality}"


def workload_keys(workload: str, localities: Iterable[str] = ()) -> dict[str, Algorithm]:
    """The keys (name → algorithm) the workload's ring must hold; `localities` for approval."""
    if workload not in WORKLOADS:
        raise ValueError(f"{workload!r} is not a workload ({', '.join(WORKLOADS)})")
    if workload == "federation":
        return {workload: "SM2-SM3"}
    keys: dict[str, Algorithm] = {PII_KEY: "SM4", sealing_key_name(workload): "SM2-SM3"}
    if workload == "approval":
        codes = sorted(set(localities))
        if not codes:
            raise ValueError("an approval workload serves at least one locality")
        keys |= {seal_key(code): "SM2-SM3" for code in codes}
    else:
        keys[workload] = "SM2-SM3"
    if workload == "routing":
        keys[LEDGER_MAC_KEY] = "HMAC-SM3"
    return keys


def generate_command(workload: str, localities: Iterable[str] = ()) -> str:
    flags = "".join(f" --locality {code}" for code in sorted(set(localities)))
    return f"tongban keys generate --workload {workload}{flags}"


def check_workload_keys(ring: KeyRing, workload: str, localities: Iterable[str] = ()) -> None:
    """Outside development: refuse (KeyRingError) when the ring lacks a key the workload will
    need, or the trust list does not verify with its anchor. In development keys are made on
    first use and the development authority issues the list."""
    if ring.development:
        return
    codes = sorted(set(localities))
    problems = []
    missing = ring.missing(workload_keys(workload, codes))
    if missing:
        problems.append(
            f"its key ring {ring.directory} has no key {', '.join(missing)} (make them with "
            f"`{generate_command(workload, codes)}`, then `tongban keys issue`)"
        )
    try:
        ring.trust.keys()
    except TrustListError as exc:
        problems.append(str(exc))
    if problems:
        raise KeyRingError(f"The {workload} service refuses to start: " + "; ".join(problems) + ".")
