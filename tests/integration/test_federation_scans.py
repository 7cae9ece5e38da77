"""跨省通办: scans travel on request and are verified by digest (contracts/federation.md §8), on
the real broker and databases: the session's stack is Anhui's, with Anhui's federation gateway
on its broker and Jiangsu's gateway alone (tests/federation_pair.py), each with its province's
blob store.

- Anhui decides a Jiangsu window's application: its approver opens a scan that is not here
  (202 `scan_requested`, in Chinese), approval asks once, Anhui's gateway sends `scan.requested`,
  Jiangsu's gateway answers with the bytes from its blob store, Anhui's checks them against the
  application's digest and stores them, and the approver downloads the identical bytes;
- a scan whose bytes are not the digest is refused (403 `digest_mismatch`), logged, and has no
  effect; the genuine one still arrives when the window's province has it;
- Anhui is the window's province: it answers Jiangsu's request for a scan of an application it
  handed to Jiangsu once, however often asked, and refuses (logged) a request for an application
  it did not hand over, for a scan the application does not name, or from a province it does not
  trust.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import delete, select

from services.federation.db import IncomingRow, OutgoingRow
from services.federation.usecases.outgoing import enqueue
from services.federation.usecases.scans import request_id, scan_body
from shared.db import Database
from shared.federation.messages import sign_message
from shared.settings import Settings
from tests import factories
from tests.federation_gateway import GatewayProcess, count, wait_for
from tests.federation_pair import GatewayPair, gateway_pair
from tests.harness import Stack, eventually
from tests.integration.test_federation_handover import (
    FUYANG,
    NANJING,
    XUANWU,
    jiangsu_hand_off,
    shown,
)
from tooling.infra import Infrastructure
from tooling.journey import ID_CARD_SCAN, household_application, sample_pdf, scan_digest

pytestmark = pytest.mark.integration

MAX_SCAN = 20 * 1024 * 1024


@pytest.fixture(scope="module")
def pair(
    stack: Stack,
    infrastructure: Infrastructure,
    test_settings: Settings,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[GatewayPair]:
    root = tmp_path_factory.mktemp("scans")
    with gateway_pair(root, infrastructure, test_settings, databases="tongban_test_fedscan") as p:
        yield p


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data


def a_scan(what: str) -> bytes:
    """A scan no other test uploaded (the blob store is content-addressed)."""
    return sample_pdf(f"{what} {uuid.uuid4()}")


async def queue(side: GatewayProcess, type: str, body: dict[str, Any], **kw: Any) -> str:
    """A message queued in `side`'s outbox for the other province, as its own code would."""
    db = Database(side.database_url, pool_size=1)
    try:
        async with db.transaction() as session:
            other = "34" if side.province == "32" else "32"
            return await enqueue(session, to_province=other, type=type, body=body, **kw)
    finally:
        await db.dispose()


async def outgoing(side: GatewayProcess, message_id: str) -> OutgoingRow | None:
    db = Database(side.database_url, pool_size=1)
    try:
        async with db.transaction() as session:
            row: OutgoingRow | None = await session.scalar(
                select(OutgoingRow).where(OutgoingRow.message_id == message_id)
            )
            return row
    finally:
        await db.dispose()


async def refused_with(side: GatewayProcess, message_id: str, reason: str) -> None:
    """The partner refused `side`'s message for `reason` (its outbox keeps it with the error);
    then it is taken out of the outbox, so that it is not tried again for the rest of the
    module."""

    async def answered() -> bool:
        row = await outgoing(side, message_id)
        return row is not None and reason in (row.last_error or "")

    await wait_for(answered, 30)
    row = await outgoing(side, message_id)
    assert row is not None and row.sent_at is None, row
    db = Database(side.database_url, pool_size=1)
    try:
        async with db.transaction() as session:
            await session.execute(delete(OutgoingRow).where(OutgoingRow.message_id == message_id))
    finally:
        await db.dispose()


async def partners_application(stack: Stack, pair: GatewayPair, scan: bytes) -> str:
    """An Anhui resident's 户口迁移证明 a Jiangsu window accepted with `scan`, sent by Jiangsu's
    gateway; the number, once 阜阳's case is open."""
    number = f"TB320102{uuid.uuid4().int % 10**14:014d}"
    body = jiangsu_hand_off(number, factories.applicant("341202"))
    body["materials"][0]["sha256"] = scan_digest(scan)
    await queue(pair.jiangsu, "application.handed_over", body)
    await stack.journey().wait_for_case(number, FUYANG)
    return number


async def test_an_approver_gets_a_partners_scan_on_request_verified_by_its_digest(
    stack: Stack, pair: GatewayPair
) -> None:
    scan = a_scan("Identity card scanned at a Jiangsu window")
    digest = scan_digest(scan)
    # Kept where the Jiangsu window's intake put it: Jiangsu's blob store, not Anhui's.
    await pair.jiangsu_blobs.put_verified(_once(scan), max_bytes=MAX_SCAN)
    number = await partners_application(stack, pair, scan)
    assert not await pair.anhui_blobs.exists(digest)
    trip = stack.journey()
    path = f"/v1/cases/{number}/materials/{digest}"
    async with stack.client("approval", trip.approver_token(FUYANG)) as approval:
        asked_at = time.monotonic()
        first = await approval.get(path)
        assert first.status_code == 202, first.text
        asked = first.json()
        assert asked["status"] == "scan_requested" and asked["partner_province"] == "32"
        assert "江苏省" in asked["message"] and "请求调取" in asked["message"], asked
        # Asked again before it came (or just after): asked once.
        again = await approval.get(path)
        assert again.status_code in (200, 202), again.text

        async def arrived() -> bytes | None:
            answer = await approval.get(path)
            assert answer.status_code in (200, 202), answer.text
            return answer.content if answer.status_code == 200 else None

        downloaded = await eventually(arrived)
    waited = time.monotonic() - asked_at
    print(f"\nscan on request: from the 202 to the bytes at the approver in {waited:.2f} s")
    assert downloaded == scan  # byte for byte what the Jiangsu window scanned
    requests = await count(
        pair.anhui.database_url, OutgoingRow, application_no=number, type="scan.requested"
    )
    assert requests == 1
    assert (
        await count(pair.jiangsu.database_url, OutgoingRow, application_no=number, type="scan") == 1
    )
    # Both sides' logs hold the request and the scan, each signature verified.
    assert {("sent", "scan.requested", "valid"), ("received", "scan", "valid")} <= shown(
        pair.anhui, number
    )
    assert {("received", "scan.requested", "valid"), ("sent", "scan", "valid")} <= shown(
        pair.jiangsu, number
    )
    # Routing's audit ledger chains the request, the read and the scan's arrival.
    async with stack.client("routing", stack.token("operator", "340000")) as routing_api:

        async def chained() -> set[str] | None:
            answer = await routing_api.get(f"/v1/audit/applications/{number}")
            kinds = {entry["event_type"] for entry in answer.json()["entries"]}
            wanted = {
                "gov.tongban.case.scan_requested.v1",
                "gov.tongban.federation.scan_received.v1",
                "gov.tongban.case.material_read.v1",
            }
            return kinds if wanted <= kinds else None

        await eventually(chained)
        verdict = (await routing_api.get("/v1/audit/verify")).json()
    assert verdict["ok"] is True, verdict


async def test_an_altered_scan_is_refused_and_has_no_effect(
    stack: Stack, pair: GatewayPair
) -> None:
    scan = a_scan("Household register scanned at a Jiangsu window")
    digest = scan_digest(scan)
    number = await partners_application(stack, pair, scan)
    # Jiangsu's gateway, trusted and signing correctly, sends other bytes under the digest.
    altered = scan.replace(b"Household", b"H0usehold")
    sent = await queue(pair.jiangsu, "scan", scan_body(number, digest, altered, "application/pdf"))
    await refused_with(pair.jiangsu, sent, "digest_mismatch")
    assert "digest_mismatch" in pair.anhui.log()
    # Nothing kept: no inbox row, nothing in the blob store; the approver still waits for it.
    assert await count(pair.anhui.database_url, IncomingRow, message_id=sent) == 0
    assert not await pair.anhui_blobs.exists(digest)
    trip = stack.journey()
    path = f"/v1/cases/{number}/materials/{digest}"
    async with stack.client("approval", trip.approver_token(FUYANG)) as approval:
        answer = await approval.get(path)
        assert answer.status_code == 202, answer.text
        # The window's province finds the genuine scan (its blob store had not got it yet:
        # Jiangsu's gateway refused the request meanwhile, and Anhui's asks again).
        await pair.jiangsu_blobs.put_verified(_once(scan), max_bytes=MAX_SCAN)

        async def arrived() -> bytes | None:
            got = await approval.get(path)
            return got.content if got.status_code == 200 else None

        assert await eventually(arrived) == scan


async def test_the_window_province_answers_only_the_partner_it_handed_the_application_to(
    stack: Stack, pair: GatewayPair
) -> None:
    trip = stack.journey()  # the 阜阳 window
    scan = a_scan("Identity card scanned at the Fuyang window")
    digest = scan_digest(scan)
    await trip.upload_scan(scan)
    body = household_application(factories.applicant(XUANWU))
    body["materials"][0]["sha256"] = digest
    response = await trip.submit(body)
    assert response.status_code == 201, response.text
    number: str = response.json()["application_no"]
    assert response.json()["competent_locality"] == NANJING

    async def handed() -> bool:
        return await count(pair.jiangsu.database_url, IncomingRow, application_no=number) == 1

    await wait_for(handed, 30)
    # Jiangsu asks (as its gateway does when its approver opens the scan), twice.
    asked = {"application_no": number, "sha256": digest}
    await queue(pair.jiangsu, "scan.requested", asked, message_id=request_id("34", number, digest))

    async def received() -> bool:
        return await count(pair.jiangsu.database_url, IncomingRow, type="scan") >= 1 and (
            await pair.jiangsu_blobs.exists(digest)
        )

    await wait_for(received, 30)
    assert await pair.jiangsu_blobs.read_bytes(digest) == scan
    repeated = await queue(pair.jiangsu, "scan.requested", asked)

    async def acknowledged() -> bool:
        row = await outgoing(pair.jiangsu, repeated)
        return row is not None and row.sent_at is not None

    await wait_for(acknowledged, 30)
    answers = await count(pair.anhui.database_url, OutgoingRow, application_no=number, type="scan")
    assert answers == 1  # asked twice, answered once
    assert {("received", "scan.requested", "valid"), ("sent", "scan", "valid")} <= shown(
        pair.anhui, number
    )

    # A request for an application Anhui decides itself (an Anhui resident's, routed to 阜阳).
    own = await trip.submit(household_application(factories.applicant("341202")))
    assert own.status_code == 201, own.text
    own_number: str = own.json()["application_no"]
    await trip.wait_for_status(own_number, "routed")
    sent = await queue(
        pair.jiangsu,
        "scan.requested",
        {"application_no": own_number, "sha256": scan_digest(ID_CARD_SCAN)},
    )
    await refused_with(pair.jiangsu, sent, "not_handed_over")
    # A scan the handed-over application does not name (another one in Anhui's blob store).
    other = {"application_no": number, "sha256": scan_digest(ID_CARD_SCAN)}
    sent = await queue(pair.jiangsu, "scan.requested", other)
    await refused_with(pair.jiangsu, sent, "not_of_the_application")
    # A province Anhui does not trust, however well it signs.
    stranger = sign_message(
        pair.jiangsu.signer(),
        id=str(uuid.uuid4()),
        from_province="31",
        to_province="34",
        type="scan.requested",
        body=asked,
        now=datetime.now(UTC),
    )
    with pair.jiangsu.client() as client:
        answer = client.post(f"{pair.anhui.url}/v1/federation/messages", json=stranger.as_json())
    assert answer.status_code == 403 and answer.json() == {"refused": "unknown_province"}
    log = pair.anhui.log()
    for reason in ("not_handed_over", "not_of_the_application", "unknown_province"):
        assert reason in log, reason
    # None of them was answered: still the one scan, and none for Anhui's own application.
    answers = await count(pair.anhui.database_url, OutgoingRow, application_no=number, type="scan")
    assert answers == 1
    assert await count(pair.anhui.database_url, OutgoingRow, application_no=own_number) == 0
