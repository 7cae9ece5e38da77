"""短信 through the SMS gateway simulator's real process (tooling/sms_gateway/) with the shared
client (shared/sms.py): a message is sent once however often its reference is presented, a
gateway that fails and recovers sends each message once when the client's caller retries, a
lost answer is found again, and every send's delivery report arrives signed at a webhook that
refuses a forged one."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI, Request, Response

from shared.sms import (
    REPORT_PATH,
    SIGNATURE_HEADER,
    DeliveryReport,
    SmsGateway,
    SmsRefused,
    SmsUnavailable,
    report_is_authentic,
    report_signature,
)
from tests.harness import RunningService, eventually, serve
from tooling.sms_gateway.control import SmsGatewayControl

pytestmark = pytest.mark.integration

NUMBER = "13855510019"


@pytest.fixture
async def sms(sms_gateway: SmsGatewayControl) -> AsyncIterator[SmsGatewayControl]:
    """The session's simulator with nothing sent and no orders; its reports go back where they
    went before (another module's receiver, the portal's) afterwards."""
    before = await sms_gateway.state()
    await sms_gateway.reset()
    yield sms_gateway
    await sms_gateway.reset()
    await sms_gateway.set_reports(
        before["report_url"] or "",
        outcome=before["report_outcome"],
        delay_seconds=before["report_delay_seconds"],
    )


@pytest.fixture
async def client(sms: SmsGatewayControl) -> AsyncIterator[SmsGateway]:
    gateway = SmsGateway(sms.base_url, timeout=2)
    yield gateway
    await gateway.aclose()


class Webhook:
    """A receiver of delivery reports as the portal has one: it takes a report only when
    report_is_authentic says the body is the gateway's, and refuses its first `refuse` ones."""

    def __init__(self, secret: bytes, refuse: int = 0) -> None:
        self.secret = secret
        self.refuse = refuse
        self.taken: list[DeliveryReport] = []
        self.refused = 0
        self.forged = 0

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post(REPORT_PATH)
        async def take(request: Request) -> Response:
            body = await request.body()
            if not report_is_authentic(
                self.secret, body, request.headers.get(SIGNATURE_HEADER, "")
            ):
                self.forged += 1
                return Response(status_code=401)
            if self.refuse > 0:
                self.refuse -= 1
                self.refused += 1
                return Response(status_code=503)
            self.taken.append(DeliveryReport.model_validate_json(body))
            return Response(status_code=204)

        return app


@pytest.fixture
async def webhook(
    sms: SmsGatewayControl, sms_report_secret: bytes
) -> AsyncIterator[tuple[Webhook, RunningService]]:
    receiver = Webhook(sms_report_secret)
    running = await serve("sms-webhook", lambda _: receiver.app())
    await sms.set_reports(f"{running.base_url}{REPORT_PATH}", delay_seconds=0.05)
    yield receiver, running
    await running.stop()


async def test_a_message_is_sent_once_however_often_its_reference_comes(
    sms: SmsGatewayControl, client: SmsGateway
) -> None:
    first = await client.send(NUMBER, "您的验证码为 314159，5 分钟内有效。", reference="otp-a")
    again = await client.send(NUMBER, "您的验证码为 314159，5 分钟内有效。", reference="otp-a")
    other = await client.send(NUMBER, "您的验证码为 271828，5 分钟内有效。", reference="otp-b")

    assert again == first and other != first
    listed = await sms.messages(to=NUMBER)
    assert [(m["message_id"], m["reference"], m["requests"]) for m in listed] == [
        (first, "otp-a", 2),
        (other, "otp-b", 1),
    ]
    # How a test reads the one-time code a sign-in sent.
    assert "271828" in listed[-1]["text"]
    assert await sms.messages(to="13900000000") == []
    assert [m["message_id"] for m in await sms.messages(reference="otp-b")] == [other]


async def test_a_malformed_number_is_refused_and_nothing_is_sent(
    sms: SmsGatewayControl, client: SmsGateway
) -> None:
    with pytest.raises(SmsRefused) as refused:
        await client.send("0551-1234567", "通知", reference="bad-number")
    assert refused.value.status_code == 422
    with pytest.raises(SmsRefused):
        await client.send(NUMBER, "", reference="empty-text")
    assert await sms.messages() == []


async def test_a_gateway_failing_then_recovering_sends_each_message_once(
    sms: SmsGatewayControl, client: SmsGateway
) -> None:
    """An outbox-like caller: each round it tries what is still unsent, with the same
    references; the gateway fails its next five sends, then works."""
    facts = [f"TB-2026-0001:{fact}" for fact in ("accepted", "supplement", "approved")]
    await sms.fail(5)
    unsent, rounds = list(facts), 0
    while unsent and rounds < 10:
        rounds += 1
        still = []
        for reference in unsent:
            try:
                await client.send(NUMBER, f"办件 {reference}", reference=reference)
            except SmsUnavailable:
                still.append(reference)
        unsent = still
        await asyncio.sleep(0.05)

    assert unsent == [] and rounds == 3  # 3 + 2 failures, then the last one through
    sent = await sms.messages(to=NUMBER)
    assert sorted(m["reference"] for m in sent) == sorted(facts)
    assert all(m["requests"] == 1 for m in sent)


async def test_an_answer_lost_to_a_timeout_is_found_again_by_the_retry(
    sms: SmsGatewayControl,
) -> None:
    await sms.slow(1, 1.5)
    impatient = SmsGateway(sms.base_url, timeout=0.3)
    try:
        with pytest.raises(SmsUnavailable):
            await impatient.send(NUMBER, "您的办件已受理。", reference="lost-answer")
        message_id = await impatient.send(NUMBER, "您的办件已受理。", reference="lost-answer")
    finally:
        await impatient.aclose()

    (sent,) = await sms.messages(reference="lost-answer")
    assert sent["message_id"] == message_id and sent["requests"] == 2


async def test_each_send_is_reported_signed_and_a_forged_report_is_refused(
    sms: SmsGatewayControl,
    client: SmsGateway,
    webhook: tuple[Webhook, RunningService],
    sms_report_secret: bytes,
) -> None:
    receiver, running = webhook
    receiver.refuse = 1  # the first report is sent again
    delivered = await client.send(NUMBER, "您的证照已寄出。", reference="report-1")
    await sms.set_reports(outcome="failed")
    failed = await client.send(NUMBER, "您的证照已送达。", reference="report-2")

    async def both_taken() -> bool:
        return len(receiver.taken) == 2

    await eventually(both_taken, within=15)
    assert {(r.message_id, r.reference, r.status) for r in receiver.taken} == {
        (delivered, "report-1", "delivered"),
        (failed, "report-2", "failed"),
    }
    assert receiver.refused == 1 and receiver.forged == 0
    listed = {m["reference"]: m["status"] for m in await sms.messages(to=NUMBER)}
    assert listed == {"report-1": "delivered", "report-2": "failed"}

    # Someone without the secret: a report of their own, and the gateway's with a changed body.
    body = (
        b'{"message_id":"%s","reference":"report-1","status":"failed","at":"2026-12-02T20:00:00Z"}'
        % delivered.encode()
    )
    async with httpx.AsyncClient(base_url=running.base_url) as http:
        guessed = await http.post(
            REPORT_PATH,
            content=body,
            headers={SIGNATURE_HEADER: report_signature(b"guessed secret", body)},
        )
        unsigned = await http.post(REPORT_PATH, content=body)
    assert (guessed.status_code, unsigned.status_code) == (401, 401)
    assert receiver.forged == 2 and len(receiver.taken) == 2
    assert report_is_authentic(sms_report_secret, body, report_signature(sms_report_secret, body))
