"""The SMS gateway simulator in process (tooling/sms_gateway/): a reference is sent once however
often it is presented, ordered failures answer 503 and send nothing, malformed messages are
refused without echoing them, the control listing filters, and each send's delivery report is
signed and sent again until the receiver takes it. The real process: test_sms_gateway.py in
tests/integration."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI, Request, Response

from shared.sms import (
    SIGNATURE_HEADER,
    DeliveryReport,
    SmsGateway,
    SmsUnavailable,
    report_is_authentic,
)
from tooling.sms_gateway.app import create_app
from tooling.sms_gateway.engine import Gateway

SECRET = b"unit-report-secret"
RECEIVER = "http://receiver.test/v1/sms/reports"


class Receiver:
    """A report receiver that refuses its first `refuse` reports (503)."""

    def __init__(self, refuse: int = 0) -> None:
        self.refuse = refuse
        self.received: list[tuple[bytes, str]] = []
        self.arrived = asyncio.Event()
        self.app = FastAPI()

        @self.app.post("/v1/sms/reports")
        async def take(request: Request) -> Response:
            if self.refuse > 0:
                self.refuse -= 1
                return Response(status_code=503)
            self.received.append((await request.body(), request.headers[SIGNATURE_HEADER]))
            self.arrived.set()
            return Response(status_code=204)


@pytest.fixture
def receiver() -> Receiver:
    return Receiver()


@pytest.fixture
async def gateway(receiver: Receiver) -> AsyncIterator[Gateway]:
    reports = httpx.AsyncClient(transport=httpx.ASGITransport(app=receiver.app))
    simulated = Gateway(secret=SECRET, report_url=RECEIVER, report_delay_seconds=0, http=reports)
    yield simulated
    await simulated.close()


@pytest.fixture
async def http(gateway: Gateway) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(gateway))
    async with httpx.AsyncClient(transport=transport, base_url="http://sms.test") as client:
        yield client


def message(reference: str, to: str = "13800000001", text: str = "您的验证码 246810") -> dict:
    return {"to": to, "text": text, "reference": reference}


async def test_a_reference_presented_twice_is_sent_once_with_the_same_id(
    http: httpx.AsyncClient,
) -> None:
    first = await http.post("/v1/messages", json=message("otp-1"))
    again = await http.post("/v1/messages", json=message("otp-1"))
    other = await http.post("/v1/messages", json=message("otp-2"))

    assert first.status_code == 202 and first.json()["status"] == "accepted"
    assert again.status_code == 200
    assert again.json()["message_id"] == first.json()["message_id"]
    assert other.json()["message_id"] != first.json()["message_id"]
    listed = (await http.get("/control/messages")).json()
    assert [(m["reference"], m["requests"]) for m in listed] == [("otp-1", 2), ("otp-2", 1)]
    assert listed[0]["text"] == "您的验证码 246810" and listed[0]["to"] == "13800000001"


async def test_ordered_failures_answer_503_and_send_nothing_then_the_gateway_recovers(
    http: httpx.AsyncClient,
) -> None:
    await http.post("/control/fail", json={"count": 2})
    answers = [(await http.post("/v1/messages", json=message("n-1"))).status_code for _ in "abc"]

    assert answers == [503, 503, 202]
    (sent,) = (await http.get("/control/messages")).json()
    assert sent["reference"] == "n-1" and sent["requests"] == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (message("r", to="1380000000"), "to"),  # ten digits
        (message("r", to="23800000000"), "to"),
        (message("r", to="+8613800000000"), "to"),
        (message("r", text=""), "text"),
        (message(""), "reference"),
        ({"to": "13800000000", "text": "x"}, "reference"),
        (message("r") | {"sender": "x"}, "sender"),
    ],
)
async def test_a_malformed_message_is_refused_naming_the_field_not_its_value(
    http: httpx.AsyncClient, body: dict, field: str
) -> None:
    answer = await http.post("/v1/messages", json=body)

    assert answer.status_code == 422
    assert field in answer.json()["error"]["message"]
    if body.get("to"):
        assert body["to"] not in answer.text
    assert (await http.get("/control/messages")).json() == []


async def test_the_listing_filters_by_number_and_reference_oldest_first(
    http: httpx.AsyncClient,
) -> None:
    for reference, to in (("a", "13800000001"), ("b", "13900000002"), ("c", "13800000001")):
        await http.post("/v1/messages", json=message(reference, to=to))

    to_one = (await http.get("/control/messages", params={"to": "13800000001"})).json()
    only_b = (await http.get("/control/messages", params={"reference": "b"})).json()

    assert [m["reference"] for m in to_one] == ["a", "c"]
    assert [m["to"] for m in only_b] == ["13900000002"]


async def test_reset_forgets_messages_and_orders(http: httpx.AsyncClient) -> None:
    await http.post("/v1/messages", json=message("old"))
    await http.post("/control/fail", json={"count": 5})
    await http.post("/control/reset")

    assert (await http.get("/control/messages")).json() == []
    assert (await http.post("/v1/messages", json=message("old"))).status_code == 202


async def test_each_send_is_reported_signed_and_the_status_follows(
    http: httpx.AsyncClient, receiver: Receiver
) -> None:
    sent = (await http.post("/v1/messages", json=message("otp-7"))).json()
    await asyncio.wait_for(receiver.arrived.wait(), timeout=5)

    ((body, signature),) = receiver.received
    assert report_is_authentic(SECRET, body, signature)
    report = DeliveryReport.model_validate_json(body)
    assert (report.message_id, report.reference, report.status) == (
        sent["message_id"],
        "otp-7",
        "delivered",
    )
    (listed,) = (await http.get("/control/messages")).json()
    assert listed["status"] == "delivered"


async def test_a_report_the_receiver_refuses_is_sent_again_until_taken(
    http: httpx.AsyncClient, receiver: Receiver
) -> None:
    receiver.refuse = 2
    await http.put("/control/reports", json={"outcome": "failed"})
    await http.post("/v1/messages", json=message("otp-8"))
    await asyncio.wait_for(receiver.arrived.wait(), timeout=10)

    ((body, _),) = receiver.received
    assert DeliveryReport.model_validate_json(body).status == "failed"


async def test_the_client_retried_by_its_caller_sends_each_message_once(
    gateway: Gateway,
) -> None:
    """What an outbox-like sender does: try each message, keep those that failed for the next
    round, until every one is taken."""
    gateway.fail_next(3)
    sms = SmsGateway("http://sms.test", transport=httpx.ASGITransport(app=create_app(gateway)))
    pending = [f"fact-{n}" for n in range(4)]
    rounds = 0
    while pending:
        rounds += 1
        failed = []
        for reference in pending:
            try:
                await sms.send("13800000003", f"通知 {reference}", reference=reference)
            except SmsUnavailable:
                failed.append(reference)
        pending = failed
    await sms.aclose()

    assert rounds == 2
    assert sorted(m.reference for m in gateway.messages.values()) == [f"fact-{n}" for n in range(4)]
    assert all(m.requests == 1 for m in gateway.messages.values())
