"""异地代收代办 across two Tongban instances: the test session's stack is Anhui's; Jiangsu's is
a second one (tests/jiangsu_stack.py: TONGBAN_PROVINCE=320000, its own Kafka broker, its own
databases, key ring, routing, approval, intake and delivery as processes of their own). Each
province's gateway runs on its own broker, with mutual TLS and trust exchanged with `tongban
federation anchor export` / `trust add` (tests/two_provinces.py). Nothing of Jiangsu's side is
simulated: its routing places the case, its approval decides it, its gateway sends the decision
and the sealed certificate back; Anhui's delivery prints it at the 阜阳 window and hands it over,
or posts it, and Jiangsu's gateway hears of it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from services.federation.db import IncomingRow
from shared.auth import mint_token
from shared.settings import Settings
from tests import factories
from tests.federation_gateway import count, wait_for
from tests.harness import Stack, eventually
from tests.jiangsu_stack import JiangsuStack
from tests.two_provinces import (
    TwoProvinces,
    dead_letters_of,
    ledger,
    routed_in,
    shown,
    start_gateways,
)
from tooling.infra import Infrastructure
from tooling.journey import Journey, household_application

pytestmark = pytest.mark.integration

XUANWU = "320102"  # 南京市玄武区: the applicant's household registration
NANJING = "320100"  # competent for 户口迁移证明 by the agreement (city level)
BACK = ("case.opened", "application.approved", "certificate.issued")


@pytest.fixture(scope="module")
async def two(
    stack: Stack,
    infrastructure: Infrastructure,
    test_settings: Settings,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[TwoProvinces]:
    """Jiangsu's stack and both gateways, started in a thread: the session's event loop keeps
    serving Anhui's in-process services (and their Kafka heartbeats) meanwhile."""
    root = tmp_path_factory.mktemp("two-provinces")
    jiangsu = JiangsuStack(root / "32", infrastructure.database_url)
    try:
        gateways = await asyncio.to_thread(
            start_gateways, jiangsu, root, infrastructure, test_settings.key_ring_dir
        )
        yield TwoProvinces(jiangsu, *gateways)
        for gateway in gateways:
            await asyncio.to_thread(gateway.stop)
    finally:
        await asyncio.to_thread(jiangsu.stop)


async def decided_in_jiangsu(
    stack: Stack, two: TwoProvinces, trip: Journey, body: dict[str, Any]
) -> tuple[str, float, float]:
    """Submitted at the 阜阳 window, placed by Jiangsu's routing with 南京市 under Jiangsu's
    item, approved by Jiangsu's approver: (number, 201 → placed, the approval's moment)."""
    began = time.monotonic()
    response = await trip.submit(body)
    assert response.status_code == 201, response.text
    number: str = response.json()["application_no"]
    jiangsu_routing = two.jiangsu.database_url("routing")
    row: Any = await eventually(lambda: routed_in(jiangsu_routing, number), within=60)
    placed = time.monotonic() - began
    assert (row.outcome, row.competent_locality, row.item_code) == (
        "routed",
        NANJING,
        "JS-GA-0101",
    )
    there = Journey(two.jiangsu.settings(), {"approval": two.jiangsu.url("approval")}, timeout=60)
    await there.approve(number, NANJING)
    return number, placed, time.monotonic()


async def test_a_jiangsu_residents_application_is_decided_in_jiangsu_and_handed_over_in_fuyang(
    stack: Stack, two: TwoProvinces
) -> None:
    trip = stack.journey()  # the 阜阳 window W341200-01
    trip.timeout = 60
    applicant = factories.applicant(XUANWU)
    number, placed, decided = await decided_in_jiangsu(
        stack, two, trip, household_application(applicant)
    )

    # The decision comes back to the 阜阳 window's timeline, mapped by the table of statuses.
    approved = await trip.wait_for_status(number, "approved")
    back_at_the_window = time.monotonic() - decided
    statuses = [entry["status"] for entry in approved["timeline"]]
    assert statuses[:4] == ["accepted", "routed", "in_review", "approved"], statuses

    # Jiangsu's certificate waits at the 阜阳 window, printable there with Anhui's template.
    job = await trip.wait_in_print_queue(number)
    printable = time.monotonic() - decided
    certificate_no = job["certificate_no"]
    assert NANJING in certificate_no, job  # 南京市 numbered it
    async with stack.client("delivery", trip.clerk_token) as delivery:
        printed = await delivery.get(f"/v1/certificates/{certificate_no}.pdf")
        assert printed.status_code == 200, printed.text
        assert printed.content.startswith(b"%PDF")
        code = parse_qs(urlsplit(printed.headers["X-Tongban-Verify-Url"]).query)["code"][0]
        # Anyone verifies it at Anhui: valid, issued by 南京市.
        verified = await delivery.get(
            f"/v1/certificates/{certificate_no}/verify", params={"code": code}
        )
        page = await delivery.get(
            f"/v1/certificates/{certificate_no}/verify",
            params={"code": code},
            headers={"Accept": "text/html"},
        )
    assert verified.status_code == 200, verified.text
    assert verified.json()["valid"] is True, verified.json()
    assert verified.json()["issuer_locality"] == NANJING
    assert "南京市公安局" in page.text

    # Handed over at the window against the applicant's ID (Anhui's own record of it).
    handed = await trip.hand_over(number, applicant["id_number"])
    assert handed.status_code == 200, handed.text
    delivered = await trip.wait_for_status(number, "delivered")
    statuses = [entry["status"] for entry in delivered["timeline"]]
    assert statuses[-2:] == ["ready_for_pickup", "delivered"], statuses

    # Each side's log holds the other's signed messages for the case, every signature valid:
    # Jiangsu hears that the certificate waited at the window and was handed over.
    facts = ("certificate.ready_for_pickup", "certificate.delivered")

    async def all_logged() -> bool:
        back = await count(two.anhui_gateway.database_url, IncomingRow, application_no=number)
        told = await count(two.jiangsu_gateway.database_url, IncomingRow, application_no=number)
        return back >= len(BACK) and told >= 1 + len(facts)

    await wait_for(all_logged, 60)
    assert shown(two.anhui_gateway, number) == {
        ("sent", "application.handed_over", "valid"),
        *{("received", kind, "valid") for kind in BACK},
        *{("sent", kind, "valid") for kind in facts},
    }
    assert shown(two.jiangsu_gateway, number) == {
        ("received", "application.handed_over", "valid"),
        *{("sent", kind, "valid") for kind in BACK},
        *{("received", kind, "valid") for kind in facts},
    }
    # Both provinces' audit ledgers verify and chain the gateways' signed records.
    logged = "gov.tongban.federation.message_logged.v1"
    anhui_token = stack.token("operator", "340000")
    jiangsu_settings = two.jiangsu.settings()
    jiangsu_token = mint_token(jiangsu_settings, role="operator", locality="320000", sub="test")

    async def chained(url: str, token: str) -> tuple[set[str], dict[str, Any]] | None:
        kinds, verdict = await ledger(url, token, number)
        return (kinds, verdict) if logged in kinds else None

    anhui_ledger: Any = await eventually(
        lambda: chained(stack.services["routing"].base_url, anhui_token), within=30
    )
    jiangsu_ledger: Any = await eventually(
        lambda: chained(two.jiangsu.url("routing"), jiangsu_token), within=30
    )
    assert anhui_ledger[1]["ok"] is True, anhui_ledger
    assert jiangsu_ledger[1]["ok"] is True, jiangsu_ledger
    # Jiangsu's intake and delivery left the partner's case alone: nothing dead-lettered.
    assert await dead_letters_of(two.jiangsu, {number}) == []
    print(
        f"\n201 to placed by Jiangsu's routing {placed:.2f} s; "
        f"Jiangsu's approval to approved at the 阜阳 window {back_at_the_window:.2f} s, "
        f"to the certificate printable there {printable:.2f} s"
    )


async def test_a_postal_delivery_of_jiangsus_certificate_is_posted_from_anhui(
    stack: Stack, two: TwoProvinces
) -> None:
    assert stack.carrier is not None
    await stack.carrier.set_mode("ok", progress=True)  # the simulator reports by itself
    trip = stack.journey()
    trip.timeout = 60
    applicant = factories.applicant(XUANWU)
    body = household_application(applicant)
    body["delivery"] = {
        "method": "postal",
        "address": {
            "recipient": applicant["name"],
            "phone": "15805516130",
            "locality": "341202",
            "line": "颍州区清河东路1号",
        },
    }
    number, _, decided = await decided_in_jiangsu(stack, two, trip, body)

    # Posted from Anhui through the carrier, and delivered by its report.
    delivered = await trip.wait_for_status(number, "delivered")
    posted = time.monotonic() - decided
    statuses = [entry["status"] for entry in delivered["timeline"]]
    assert "dispatched" in statuses and statuses[-1] == "delivered", statuses
    facts = ("certificate.dispatched", "certificate.delivered")

    async def told() -> bool:
        found = await count(two.jiangsu_gateway.database_url, IncomingRow, application_no=number)
        return found >= 1 + len(facts)

    await wait_for(told, 60)
    assert {
        (direction, kind)
        for direction, kind, verified in shown(two.jiangsu_gateway, number)
        if verified == "valid" and direction == "received"
    } == {("received", "application.handed_over"), *{("received", kind) for kind in facts}}
    assert await dead_letters_of(two.jiangsu, {number}) == []
    print(f"\nJiangsu's approval to delivered by post from Anhui {posted:.2f} s")
