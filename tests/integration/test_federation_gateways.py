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

import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from services.federation.db import IncomingRow, OutgoingRow
from services.federation.usecases.outgoing import enqueue
from shared.crypto.keyring import SoftwareSigner
from shared.crypto.sm import sm2_generate
from shared.db import Database
from shared.db.migrations import upgrade
from shared.federation.messages import sign_message
from shared.settings import with_database
from tests.federation_gateway import GatewayProcess, count, wait_for
from tooling.federation_pki import DevelopmentCA
from tooling.infra import ensure_databases, free_ports

pytestmark = pytest.mark.integration


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
            province,
            ports[province],
            url,
            root / province,
            ca.issue(province),
            # Scans of at most 64 KiB on request: its requests stay within 256 KiB, the limit
            # the oversized message of the refusals goes beyond.
            extra_env={"FEDERATION_MAX_SCAN_BYTES": str(64 * 1024)},
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
