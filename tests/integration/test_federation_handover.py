"""异地代收代办 from an Anhui window to Jiangsu, on the real broker and databases: the stack of
the test session is Anhui's; its federation gateway runs as its own process on that broker (as
the principal `federation`, with the key ring of the stack) and Jiangsu's gateway as another
(alone: no Jiangsu stack behind it in this test), with mutual TLS and trust set up with
`tongban federation anchor export` / `trust add`.

- a Jiangsu resident's application of an item Jiangsu accepts from Anhui is accepted at the
  阜阳 window (201 at once), handed over by routing, queued and sent signed by Anhui's gateway,
  and received once, verified, by Jiangsu's; both gateways' messages are in routing's audit
  ledger, and `tongban federation log` shows each side's with its signature verified;
- an item outside the agreement is refused at the window, in Chinese, and nothing is sent.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine

from services.federation.db import IncomingRow, OutgoingRow
from services.federation.usecases.outgoing import enqueue
from services.routing.db import RoutedApplicationRow
from shared.db import Database
from shared.settings import Settings
from tests import factories
from tests.federation_gateway import GatewayProcess, count, wait_for
from tests.federation_pair import GatewayPair, gateway_pair
from tests.harness import Stack, eventually
from tooling.infra import Infrastructure
from tooling.journey import ID_CARD_SCAN, household_application, scan_digest

pytestmark = pytest.mark.integration

XUANWU = "320102"  # 南京市玄武区: the applicant's household registration
NANJING = "320100"  # competent for 户口迁移证明 by the agreement (city level)


# Anhui's gateway on the stack's broker, Jiangsu's alone (tests/federation_pair.py).
Federation = GatewayPair


@pytest.fixture(scope="module")
def federation(
    stack: Stack,
    infrastructure: Infrastructure,
    test_settings: Settings,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Federation]:
    root = tmp_path_factory.mktemp("handover")
    with gateway_pair(
        root, infrastructure, test_settings, databases="tongban_test_federation"
    ) as p:
        yield p


async def routed(stack: Stack, number: str) -> Any:
    engine = create_async_engine(stack.settings.service_database_url("routing"))
    try:
        async with engine.connect() as connection:
            row = (
                await connection.execute(
                    select(RoutedApplicationRow.__table__).where(
                        RoutedApplicationRow.application_no == number
                    )
                )
            ).first()
            return row
    finally:
        await engine.dispose()


def shown(side: GatewayProcess, number: str) -> set[tuple[str, str, str]]:
    """(direction, type, signature verified?) of each message `tongban federation log` shows."""
    return {(m["direction"], m["type"], m["verified"]) for m in logged(side, number)}


def logged(side: GatewayProcess, number: str) -> list[dict[str, Any]]:
    shown = side.tongban("log", number, "--json")
    assert shown.returncode == 0, shown.stderr
    found: list[dict[str, Any]] = json.loads(shown.stdout)
    return found


async def test_a_jiangsu_residents_application_crosses_once_signed_and_logged_on_both_sides(
    stack: Stack, federation: Federation
) -> None:
    trip = stack.journey()  # the 阜阳 window W341200-01
    response = await trip.submit(household_application(factories.applicant(XUANWU)))
    assert response.status_code == 201, response.text
    number: str = response.json()["application_no"]
    assert response.json()["competent_locality"] == NANJING

    row: Any = await eventually(lambda: routed(stack, number))
    assert row.outcome == "handed_over" and row.competent_locality == NANJING

    async def arrived() -> bool:
        return await count(federation.jiangsu.database_url, IncomingRow, application_no=number) == 1

    await wait_for(arrived, 30)
    # Sent once, acknowledged; received once, with the sender's signature.
    assert await count(federation.anhui.database_url, OutgoingRow, application_no=number) == 1
    [sent] = logged(federation.anhui, number)
    [received] = logged(federation.jiangsu, number)
    assert sent["direction"] == "sent" and received["direction"] == "received"
    assert sent["verified"] == received["verified"] == "valid"
    assert sent["signature"] == received["signature"]
    assert sent["body_sm3"] == received["body_sm3"]
    assert (sent["from_province"], sent["to_province"]) == ("34", "32")

    # Routing's audit ledger chains the hand-off and the gateway's signed record of the send.
    async with stack.client("routing", stack.token("operator", "340000")) as routing_api:

        async def chained() -> list[dict[str, Any]] | None:
            answer = await routing_api.get(f"/v1/audit/applications/{number}")
            assert answer.status_code == 200, answer.text
            entries: list[dict[str, Any]] = answer.json()["entries"]
            kinds = {entry["event_type"] for entry in entries}
            wanted = {
                "gov.tongban.routing.handed_over.v1",
                "gov.tongban.federation.message_logged.v1",
            }
            return entries if wanted <= kinds else None

        entries = await eventually(chained)
        verdict = (await routing_api.get("/v1/audit/verify")).json()
    assert entries and verdict["ok"] is True, verdict
    # The way back, as Jiangsu's gateway sends it (its approval's facts, §10): the window's
    # timeline follows the case there, by the table of statuses.
    # Each says when it happened there: the timeline lists it then, not when it arrived.
    opened_at = datetime.now(UTC)
    decided_at = opened_at + timedelta(seconds=2)
    db = Database(federation.jiangsu.database_url, pool_size=1)
    try:
        async with db.transaction() as session:
            for kind, said in (("case.opened", opened_at), ("application.approved", decided_at)):
                body = {"application_no": number, "locality": NANJING, "item_code": "JS-GA-0101"}
                time_field = "opened_at" if kind == "case.opened" else "decided_at"
                body[time_field] = said.isoformat()
                await enqueue(session, to_province="34", type=kind, body=body)
    finally:
        await db.dispose()
    approved = await trip.wait_for_status(number, "approved")
    statuses = [entry["status"] for entry in approved["timeline"]]
    assert statuses[:4] == ["accepted", "routed", "in_review", "approved"], statuses
    listed = {
        entry["status"]: datetime.fromisoformat(entry["at"]) for entry in approved["timeline"]
    }
    assert listed["in_review"] == opened_at and listed["approved"] == decided_at, listed


async def test_a_partner_cannot_report_on_an_application_not_handed_to_it(
    stack: Stack, federation: Federation
) -> None:
    """Jiangsu's gateway, however trusted, reports a rejection of an application Anhui decides
    itself (an Anhui resident's, routed to 阜阳): received and logged, but it moves nothing."""
    trip = stack.journey()
    response = await trip.submit(household_application(factories.applicant("341202")))
    assert response.status_code == 201, response.text
    number: str = response.json()["application_no"]
    await trip.wait_for_status(number, "routed")
    db = Database(federation.jiangsu.database_url, pool_size=1)
    try:
        async with db.transaction() as session:
            body = {"application_no": number, "locality": NANJING}
            await enqueue(session, to_province="34", type="application.rejected", body=body)
    finally:
        await db.dispose()

    async def received() -> bool:
        return await count(federation.anhui.database_url, IncomingRow, application_no=number) == 1

    await wait_for(received, 30)
    await wait_for(lambda: _logged_refusal(federation.anhui, number), 15)
    shown = await trip.application(number)
    assert "rejected" not in {entry["status"] for entry in shown["timeline"]}


async def _logged_refusal(side: GatewayProcess, number: str) -> bool:
    return "is not about an application handed to it" in side.log()


async def test_an_item_outside_the_agreement_is_refused_at_the_window_in_chinese(
    stack: Stack, federation: Federation
) -> None:
    trip = stack.journey()
    body = {**household_application(factories.applicant(XUANWU)), "item_code": "MZ-DB-001"}
    response = await trip.submit(body)
    assert response.status_code == 403, response.text
    error = response.json()["error"]
    assert error["code"] == "no_cross_border_agreement"
    assert "江苏省不接受安徽省的窗口代收" in error["message"], error["message"]
    assert "最低生活保障" in error["message"]
    before = await count(federation.anhui.database_url, OutgoingRow)
    # Nothing was accepted, so nothing is handed over (a wait long enough for a hand-off).
    await eventually(lambda: _settled(federation, before), within=3)


async def _settled(federation: Federation, before: int) -> bool:
    return await count(federation.anhui.database_url, OutgoingRow) == before


async def test_a_burst_while_the_partner_is_away_arrives_once_each_after_it_returns(
    stack: Stack, federation: Federation
) -> None:
    """Jiangsu's gateway stopped for a minute while the 阜阳 window accepts a burst: each
    application has its 201 at once, waits in Anhui's gateway, and arrives exactly once after
    Jiangsu's gateway is back (the figures are printed: pytest -s)."""
    burst = 10
    federation.jiangsu.stop()
    stopped_at = time.monotonic()
    trip = stack.journey()
    numbers: list[str] = []
    slowest = 0.0
    for _ in range(burst):
        started = time.monotonic()
        response = await trip.submit(household_application(factories.applicant(XUANWU)))
        slowest = max(slowest, time.monotonic() - started)
        assert response.status_code == 201, response.text
        numbers.append(response.json()["application_no"])

    async def all_queued() -> bool:
        queued = [
            await count(federation.anhui.database_url, OutgoingRow, application_no=number)
            for number in numbers
        ]
        return queued == [1] * burst

    await wait_for(all_queued, 30)
    # Away for a minute: the sender keeps trying (and says so to an operator).
    await asyncio.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - stopped_at)))
    with federation.anhui.client() as client:
        waiting = client.get(f"{federation.anhui.url}/v1/federation/outbox").json()["waiting"]
    [partner] = waiting
    assert partner["province"] == "32" and partner["waiting"] == burst
    assert partner["last_error"], partner
    restarted = datetime.now(UTC)
    federation.jiangsu.start()

    async def all_arrived() -> bool:
        return await count(federation.jiangsu.database_url, IncomingRow) >= burst + 1

    await wait_for(all_arrived, 60)
    arrivals = await received_at(federation.jiangsu.database_url, numbers)
    assert sorted(arrivals) == sorted(numbers)  # every one, once each
    delays = sorted((at - restarted).total_seconds() for at in arrivals.values())
    print(
        f"\noutage {OUTAGE_SECONDS:.0f} s, burst {burst}: slowest 201 {slowest:.2f} s; "
        f"arrived {delays[0]:.2f}-{delays[-1]:.2f} s after the restart"
    )
    assert slowest < 5


OUTAGE_SECONDS = 60.0


async def received_at(database_url: str, numbers: list[str]) -> dict[str, datetime]:
    """When Jiangsu's gateway received each application's message (one row each, or it fails)."""
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as connection:
            rows = (
                await connection.execute(
                    select(IncomingRow.application_no, IncomingRow.received_at).where(
                        IncomingRow.application_no.in_(numbers)
                    )
                )
            ).all()
    finally:
        await engine.dispose()
    found: dict[str, datetime] = {}
    for number, at in rows:
        assert number not in found, f"{number} received twice"
        found[str(number)] = at
    return found


def jiangsu_hand_off(number: str, applicant: dict[str, Any]) -> dict[str, Any]:
    """What Jiangsu's routing would hand its gateway for an Anhui resident's 户口迁移证明
    accepted at 南京市玄武区's window (Jiangsu's own item code; the national code names it)."""
    now = datetime.now(UTC)
    return {
        "application_no": number,
        "item_code": "JS-GA-0101",
        "item_name": "户口迁移证明",
        "applicant": applicant,
        "receiving_locality": XUANWU,
        "window_id": "W320102-01",
        "competent_locality": FUYANG,
        "department": "公安局",
        "materials": [
            {"material_code": "M01", "sha256": scan_digest(ID_CARD_SCAN), "original_verified": True}
        ],
        "commitments": ["M03"],
        "deferred": [],
        "delivery": {"method": "window_pickup"},
        "accepted_at": now.isoformat(),
        "promised_date": (now + timedelta(days=10)).date().isoformat(),
        "statutory_days": 20,
        "promised_days": 10,
        "certificates": [],
        "channel": "window",
        "partner_province": "34",
        "national_code": "000111012000",
        "routed_at": now.isoformat(),
    }


FUYANG = "341200"  # 阜阳市: competent for an applicant of 颍州区 (city level)


async def test_a_partners_application_enters_this_provinces_pipeline_and_opens_a_case(
    stack: Stack, federation: Federation
) -> None:
    """The other way round (代收 for Anhui): Jiangsu's gateway sends an Anhui resident's
    application its window accepted; Anhui's gateway verifies it and hands it to routing
    (tongban.federation.incoming), which places it with 阜阳市 under Anhui's item of the same
    national code; 阜阳's approval opens the case and approves it, and the case, the decision
    and the sealed certificate go back to Jiangsu; all of it in routing's ledger."""
    number = f"TB320102{uuid.uuid4().int % 10**14:014d}"
    body = jiangsu_hand_off(number, factories.applicant("341202"))
    db = Database(federation.jiangsu.database_url, pool_size=1)
    try:
        async with db.transaction() as session:
            await enqueue(session, to_province="34", type="application.handed_over", body=body)
    finally:
        await db.dispose()

    row: Any = await eventually(lambda: routed(stack, number))
    assert (row.outcome, row.competent_locality, row.item_code) == ("routed", FUYANG, "GA-HJ-001")
    async with stack.client("routing", stack.token("operator", "340000")) as routing_api:

        async def opened() -> set[str] | None:
            answer = await routing_api.get(f"/v1/audit/applications/{number}")
            kinds = {entry["event_type"] for entry in answer.json()["entries"]}
            return kinds if "gov.tongban.case.opened.v1" in kinds else None

        kinds = await eventually(opened)
    assert isinstance(kinds, set)
    assert {
        "gov.tongban.federation.message_logged.v1",
        "gov.tongban.federation.application_received.v1",
        "gov.tongban.application.routed.v1",
    } <= kinds

    # 阜阳 decides; the case opened, the decision and the sealed certificate go back to
    # Jiangsu, signed, once each (the table of contracts/federation.md §10).
    await stack.journey().approve(number, FUYANG)
    back = ("case.opened", "application.approved", "certificate.issued")

    async def all_back() -> bool:
        found = await count(federation.jiangsu.database_url, IncomingRow, application_no=number)
        return found >= len(back)

    await wait_for(all_back, 30)
    assert shown(federation.anhui, number) == {
        ("received", "application.handed_over", "valid"),
        *{("sent", kind, "valid") for kind in back},
    }
    assert shown(federation.jiangsu, number) == {
        ("sent", "application.handed_over", "valid"),
        *{("received", kind, "valid") for kind in back},
    }
