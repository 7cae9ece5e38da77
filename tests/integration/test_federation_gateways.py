"""Two provinces' federation gateways (Anhui 34, Jiangsu 32) as two processes, each with its own
database on the launcher's PostgreSQL, its own key ring and its own trusted-anchor folder,
talking HTTPS with mutual TLS. Trust is set up the operators' way: each exports its anchor and
imports the other's with `tongban federation`.

- store and forward: messages queued while the partner is stopped arrive exactly once after it
  starts;
- refusals: an unknown province, an unsigned message, a key the anchor does not hold, an altered
  body, a stale timestamp and a partner whose anchor was removed are each refused (403), logged,
  and write no row;
- no certificate, no connection."""

from __future__ import annotations

import asyncio
import os
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from services.federation.db import IncomingRow, OutgoingRow
from services.federation.usecases.outgoing import enqueue
from shared.crypto.keyring import KeyRing, SoftwareSigner
from shared.crypto.sm import sm2_generate
from shared.db import Database
from shared.db.migrations import upgrade
from shared.federation.anchors import FEDERATION_KEY
from shared.federation.messages import sign_message
from shared.settings import DEVELOPMENT_KEY_RING_SECRET, with_database
from tooling.federation_pki import DevelopmentCA, GatewayFiles
from tooling.infra import ensure_databases, free_ports
from tooling.local_state import STATE_FILE_VARIABLE

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]
PROVINCE_NAMES = {"34": "安徽省", "32": "江苏省"}


@dataclass
class GatewayProcess:
    province: str
    port: int
    database_url: str
    work: Path
    tls: GatewayFiles
    process: subprocess.Popen[bytes] | None = None
    log_path: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log_path = self.work / "gateway.log"

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.work),
            "PYTHONPATH": str(REPO_ROOT),
            "TONGBAN_ENV": "development",
            "TONGBAN_LANG": "en",
            STATE_FILE_VARIABLE: str(self.work / "no-stack.json"),
            "KEY_RING_DIR": str(self.work / "keys"),
            "PROVINCE": f"{self.province}0000",
            "FEDERATION_PROVINCE_NAME": PROVINCE_NAMES[self.province],
            "FEDERATION_GATEWAY_URL": self.url,
            "FEDERATION_TRUST_DIR": str(self.work / "trusted"),
            "FEDERATION_DATABASE_URL": self.database_url,
            "FEDERATION_TLS_CERT": str(self.tls.cert),
            "FEDERATION_TLS_KEY": str(self.tls.key),
            "FEDERATION_TLS_CA": str(self.tls.ca),
            "FEDERATION_PORT": str(self.port),
            "FEDERATION_POLL_SECONDS": "0.2",
            "FEDERATION_RETRY_BASE_SECONDS": "0.2",
            "FEDERATION_RETRY_MAX_SECONDS": "1",
            "FEDERATION_SEND_TIMEOUT_SECONDS": "2",
        }

    def tongban(self, *arguments: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "tooling.cli", "federation", *arguments],
            cwd=self.work,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=60,
        )

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "services.federation"],
                cwd=self.work,
                env=self.env(),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 30
        with self.client() as client:
            while True:
                try:
                    if client.get(f"{self.url}/healthz").status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                assert self.process.poll() is None, self.log()
                assert time.monotonic() < deadline, f"gateway {self.province}: {self.log()}"
                time.sleep(0.1)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=15)
        self.process = None

    def client(self) -> httpx.Client:
        """A client presenting this gateway's certificate (as this gateway calls partners)."""
        return httpx.Client(verify=self._context(), timeout=5)

    def _context(self) -> Any:
        from services.federation.tls import TlsFiles

        return TlsFiles(str(self.tls.cert), str(self.tls.key), str(self.tls.ca)).client_context()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def signer(self) -> SoftwareSigner:
        ring = KeyRing(self.work / "keys", DEVELOPMENT_KEY_RING_SECRET, development=True)
        return ring.signer(FEDERATION_KEY)


@dataclass
class Pair:
    anhui: GatewayProcess
    jiangsu: GatewayProcess


@pytest.fixture(scope="module")
def gateways(database_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    root = tmp_path_factory.mktemp("federation")
    ca = DevelopmentCA(root / "ca")
    names = {"34": "tongban_federation_test_34", "32": "tongban_federation_test_32"}
    ensure_databases(database_server, list(names.values()), recreate=True)
    ports = dict(zip(names, free_ports(2), strict=True))
    made = {}
    for province, database in names.items():
        url = with_database(database_server, database)
        upgrade("federation", url)
        (root / province).mkdir()
        made[province] = GatewayProcess(
            province, ports[province], url, root / province, ca.issue(province)
        )
    pair = Pair(made["34"], made["32"])
    # The operators' way: each exports its anchor, each imports the other's.
    for side in (pair.anhui, pair.jiangsu):
        exported = side.tongban("anchor", "export", str(root / f"anchor-{side.province}.json"))
        assert exported.returncode == 0, exported.stderr
    for side, other in ((pair.anhui, pair.jiangsu), (pair.jiangsu, pair.anhui)):
        added = side.tongban("trust", "add", str(root / f"anchor-{other.province}.json"))
        assert added.returncode == 0, added.stderr
        assert "Fingerprint (SM3)" in added.stdout
    listed = pair.anhui.tongban("trust", "list")
    assert "32" in listed.stdout and "江苏省" in listed.stdout
    pair.anhui.start()
    pair.jiangsu.start()
    yield pair
    pair.anhui.stop()
    pair.jiangsu.stop()


async def count(database_url: str, model: Any, **where: Any) -> int:
    db = Database(database_url, pool_size=1)
    try:
        async with db.transaction() as session:
            query = select(func.count()).select_from(model).filter_by(**where)
            return int(await session.scalar(query) or 0)
    finally:
        await db.dispose()


async def wait_for(check: Any, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not await check():
        assert time.monotonic() < deadline, "not within the time given"
        await asyncio.sleep(0.1)


async def test_messages_queued_while_the_partner_is_stopped_arrive_exactly_once(
    gateways: Pair,
) -> None:
    anhui, jiangsu = gateways.anhui, gateways.jiangsu
    jiangsu.stop()
    db = Database(anhui.database_url, pool_size=1)
    ids = []
    try:
        async with db.transaction() as session:
            for number in range(20):
                ids.append(
                    await enqueue(
                        session,
                        to_province="32",
                        type="application.handed_over",
                        body={"application_no": f"AH-STORE-{number}", "item_code": "X"},
                    )
                )
            # The same hand-off asked for twice is queued once.
            await enqueue(session, to_province="32", type="x", body={}, message_id=ids[0])
    finally:
        await db.dispose()

    async def retried() -> bool:
        return await count(anhui.database_url, OutgoingRow, attempts=2) > 0

    await wait_for(retried, 15)  # the partner away: attempts fail, are retried, nothing lost
    assert await count(anhui.database_url, OutgoingRow, sent_at=None) == 20
    with anhui.client() as client:
        (waiting,) = client.get(f"{anhui.url}/v1/federation/outbox").json()["waiting"]
    assert (waiting["province"], waiting["waiting"]) == ("32", 20)
    assert "ConnectError" in waiting["last_error"]
    started = time.monotonic()
    jiangsu.start()

    async def all_acknowledged() -> bool:
        return await count(anhui.database_url, OutgoingRow, sent_at=None) == 0

    await wait_for(all_acknowledged, 20)
    delivered_in = time.monotonic() - started
    with anhui.client() as client:
        assert client.get(f"{anhui.url}/v1/federation/outbox").json() == {"waiting": []}
    for message_id in ids:
        assert await count(jiangsu.database_url, IncomingRow, message_id=message_id) == 1
    assert await count(jiangsu.database_url, IncomingRow) == 20
    print(f"20 messages queued during the outage delivered {delivered_in:.2f} s after restart")

    # A replay of a message already received is acknowledged and has no second effect.
    replay = sign_message(
        anhui.signer(),
        id=ids[3],
        from_province="34",
        to_province="32",
        type="application.handed_over",
        body={"application_no": "AH-STORE-3", "item_code": "X"},
    )
    with anhui.client() as client:
        answer = client.post(f"{jiangsu.url}/v1/federation/messages", json=replay.as_json())
    assert answer.json() == {"status": "duplicate"}
    assert await count(jiangsu.database_url, IncomingRow) == 20


def forged_key(kid: str) -> SoftwareSigner:
    private, _public = sm2_generate()
    return SoftwareSigner(kid, "SM2-SM3", private)


def refused_cases(anhui: GatewayProcess) -> dict[str, tuple[dict[str, Any], str]]:
    """Each case: the message, the reason the receiver must give."""

    def signed(signer: SoftwareSigner, name: str, **changes: Any) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "id": f"refused-{name}",
            "from_province": "34",
            "to_province": "32",
            "type": "application.handed_over",
            "body": {"application_no": f"AH-{name}"},
        }
        return sign_message(signer, **{**fields, **changes}).as_json()

    genuine = anhui.signer()
    unsigned = signed(genuine, "unsigned")
    unsigned["signature"] = ""
    altered = signed(genuine, "altered")
    altered["body"] = {"application_no": "AH-someone-else"}
    return {
        "unknown province": (
            signed(forged_key("federation#1"), "unknown", from_province="31"),
            "unknown_province",
        ),
        "unsigned": (unsigned, "unsigned"),
        "a key the anchor does not hold": (
            signed(forged_key("federation#7"), "foreign-key"),
            "unknown_key",
        ),
        "the anchor's key id, another key": (
            signed(forged_key(genuine.kid), "stolen-kid"),
            "bad_signature",
        ),
        "altered body": (altered, "bad_signature"),
        "stale timestamp": (
            signed(genuine, "stale", now=datetime.now(UTC) - timedelta(minutes=10)),
            "stale",
        ),
    }


async def test_each_refusal_is_refused_logged_and_writes_nothing(gateways: Pair) -> None:
    anhui, jiangsu = gateways.anhui, gateways.jiangsu
    before = await count(jiangsu.database_url, IncomingRow)
    with anhui.client() as client:
        for case, (message, reason) in refused_cases(anhui).items():
            answer = client.post(f"{jiangsu.url}/v1/federation/messages", json=message)
            assert (answer.status_code, answer.json()) == (403, {"refused": reason}), case
            logged = f"refused message '{message['id']}'"
            assert logged in jiangsu.log() and reason in jiangsu.log(), case
        oversized = {"format": "x", "padding": "x" * 300_000}
        answer = client.post(f"{jiangsu.url}/v1/federation/messages", json=oversized)
        assert answer.status_code == 413
    assert await count(jiangsu.database_url, IncomingRow) == before


async def test_a_removed_partner_is_refused_at_its_next_message(gateways: Pair) -> None:
    anhui, jiangsu = gateways.anhui, gateways.jiangsu
    before = await count(jiangsu.database_url, IncomingRow)

    def message(name: str) -> dict[str, Any]:
        return sign_message(
            anhui.signer(),
            id=f"revocation-{name}",
            from_province="34",
            to_province="32",
            type="application.handed_over",
            body={},
        ).as_json()

    with anhui.client() as client:
        post = f"{jiangsu.url}/v1/federation/messages"
        assert client.post(post, json=message("before")).json() == {"status": "accepted"}
        removed = jiangsu.tongban("trust", "remove", "34")
        assert removed.returncode == 0, removed.stderr
        answer = client.post(post, json=message("after"))
        assert (answer.status_code, answer.json()) == (403, {"refused": "unknown_province"})
        assert "refused message 'revocation-after'" in jiangsu.log()
        assert client.get(f"{jiangsu.url}/v1/federation/partners").json()["partners"] == []
    assert await count(jiangsu.database_url, IncomingRow) == before + 1
    # Trusted again only by importing the anchor again.
    again = jiangsu.tongban("trust", "add", str(anhui.work.parent / "anchor-34.json"))
    assert again.returncode == 0, again.stderr


def test_a_client_without_a_certificate_is_refused_in_the_handshake(gateways: Pair) -> None:
    jiangsu = gateways.jiangsu
    context = ssl.create_default_context(cafile=str(jiangsu.tls.ca))
    with httpx.Client(verify=context, timeout=5) as client, pytest.raises(httpx.HTTPError):
        client.get(f"{jiangsu.url}/healthz")
    # The same client with a certificate from the CA is let in.
    context.load_cert_chain(str(gateways.anhui.tls.cert), str(gateways.anhui.tls.key))
    with httpx.Client(verify=context, timeout=5) as client:
        assert client.get(f"{jiangsu.url}/healthz").json()["province"] == "32"
