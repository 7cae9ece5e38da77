"""Two federation gateways beside the test session's stack, as tests/integration/
test_federation_handover.py runs them: Anhui's (34) as its own process on the stack's broker
(the principal `federation`, the stack's key ring), Jiangsu's (32) alone (no broker), each with
its own database, key ring, trust folder and TLS certificate from a development CA, and trust
set up both ways with `tongban federation anchor export` / `trust add`.

Each gateway also has a blob store: Anhui's is the stack's (where intake keeps the windows'
scans and approval reads them), Jiangsu's a folder of its own, standing for its province's."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from shared.blobstore import BlobStore
from shared.db.migrations import upgrade
from shared.settings import Settings, with_database
from tests.federation_gateway import GatewayProcess
from tooling.federation_pki import DevelopmentCA
from tooling.infra import Infrastructure, ensure_databases, free_ports


@dataclass
class GatewayPair:
    anhui: GatewayProcess
    jiangsu: GatewayProcess
    anhui_blobs: BlobStore
    jiangsu_blobs: BlobStore
    jiangsu_blob_dir: Path


@contextmanager
def gateway_pair(
    root: Path, infrastructure: Infrastructure, settings: Settings, *, databases: str
) -> Iterator[GatewayPair]:
    """Both gateways started (databases `<databases>_34` and `_32`, recreated); stopped after."""
    ca = DevelopmentCA(root / "ca")
    names = {code: f"{databases}_{code}" for code in ("34", "32")}
    ensure_databases(infrastructure.database_url, list(names.values()), recreate=True)
    ports = dict(zip(names, free_ports(2), strict=True))
    urls = {code: with_database(infrastructure.database_url, name) for code, name in names.items()}
    for url in urls.values():
        upgrade("federation", url)
    assert infrastructure.kafka_credentials is not None
    jiangsu_blob_dir = root / "32-blobs"
    anhui_blobs = Path(settings.blob_store_url).resolve()
    extra = {
        "34": {
            "FEDERATION_KAFKA": "true",
            "KAFKA_BOOTSTRAP_SERVERS": infrastructure.kafka_bootstrap_servers,
            **infrastructure.kafka_credentials.environment("federation"),
            # The stack's ring: its `federation` key signs the log events routing's ledger checks.
            "KEY_RING_DIR": settings.key_ring_dir,
            "BLOB_STORE_URL": str(anhui_blobs),
        },
        "32": {"BLOB_STORE_URL": str(jiangsu_blob_dir)},
    }
    made = {}
    for code in names:
        (root / code).mkdir()
        made[code] = GatewayProcess(
            code, ports[code], urls[code], root / code, ca.issue(code), extra_env=extra[code]
        )
    anhui, jiangsu = made["34"], made["32"]
    for side in (anhui, jiangsu):
        exported = side.tongban("anchor", "export", str(root / f"anchor-{side.province}.json"))
        assert exported.returncode == 0, exported.stderr
    for side, other in ((anhui, jiangsu), (jiangsu, anhui)):
        added = side.tongban("trust", "add", str(root / f"anchor-{other.province}.json"))
        assert added.returncode == 0, added.stderr
    try:
        # Inside: a gateway that did start is stopped when the other does not (one left running
        # would read the stack's topics in the group of the next module's gateway).
        anhui.start()
        jiangsu.start()
        yield GatewayPair(
            anhui,
            jiangsu,
            BlobStore.from_url(anhui_blobs.as_uri()),
            BlobStore.from_url(jiangsu_blob_dir.resolve().as_uri()),
            jiangsu_blob_dir,
        )
    finally:
        anhui.stop()
        jiangsu.stop()
