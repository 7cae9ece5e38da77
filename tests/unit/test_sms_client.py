"""The SMS client (shared/sms.py): one attempt per call, a clear error for a gateway that is away
and another for one that refuses, the reference on every try; the report signature and its
constant-time check; the portal failing closed on the development report secret."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from shared.settings import DEVELOPMENT_SMS_REPORT_SECRET, InsecureConfiguration, Settings
from shared.sms import (
    SIGNATURE_HEADER,
    DeliveryReport,
    SmsGateway,
    SmsRefused,
    SmsUnavailable,
    report_is_authentic,
    report_signature,
)

SECRET = b"report-secret"


def gateway(answer: httpx.MockTransport) -> SmsGateway:
    return SmsGateway("http://sms.test", timeout=1, transport=answer)


async def test_a_message_is_posted_once_with_its_reference_and_the_gateway_id_returned() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(202, json={"message_id": "SM01", "status": "accepted"})

    async with gateway(httpx.MockTransport(answer)) as sms:
        message_id = await sms.send("13800000000", "验证码 123456", reference="otp-1")

    assert message_id == "SM01"
    assert len(seen) == 1
    assert seen[0].url.path == "/v1/messages"
    assert json.loads(seen[0].content) == {
        "to": "13800000000",
        "text": "验证码 123456",
        "reference": "otp-1",
    }


@pytest.mark.parametrize(
    "answer",
    [
        lambda _: httpx.Response(503),
        lambda _: httpx.Response(500, text="oops"),
        lambda _: httpx.Response(202, json={"status": "accepted"}),  # no id: taken or not?
        lambda _: httpx.Response(202, text="not json"),
    ],
)
async def test_a_gateway_down_or_answering_nonsense_is_unavailable_after_one_attempt(
    answer: object,
) -> None:
    calls = 0

    def counted(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return answer(request)  # type: ignore[operator]

    async with gateway(httpx.MockTransport(counted)) as sms:
        with pytest.raises(SmsUnavailable):
            await sms.send("13800000000", "text", reference="r")
    # The caller owns redelivery: the client does not retry on its own.
    assert calls == 1


async def test_unreachable_and_timed_out_gateways_are_unavailable() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    def hang(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    for failing in (refuse, hang):
        async with gateway(httpx.MockTransport(failing)) as sms:
            with pytest.raises(SmsUnavailable):
                await sms.send("13800000000", "text", reference="r")


async def test_a_refused_message_says_so_and_is_not_unavailable() -> None:
    def answer(_: httpx.Request) -> httpx.Response:
        return httpx.Response(422, json={"error": {"code": "invalid_request"}})

    async with gateway(httpx.MockTransport(answer)) as sms:
        with pytest.raises(SmsRefused) as refused:
            await sms.send("12345", "text", reference="r")
    assert refused.value.status_code == 422
    assert not isinstance(refused.value, SmsUnavailable)


async def test_a_message_without_a_reference_is_not_sent() -> None:
    def answer(_: httpx.Request) -> httpx.Response:
        raise AssertionError("nothing may be sent")

    async with gateway(httpx.MockTransport(answer)) as sms:
        with pytest.raises(ValueError):
            await sms.send("13800000000", "text", reference="")
        with pytest.raises(ValueError):
            await sms.send("13800000000", "text", reference="x" * 129)


async def test_neither_the_number_nor_the_text_reaches_the_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    answers = iter([httpx.Response(503), httpx.Response(202, json={"message_id": "SM02"})])
    caplog.set_level("DEBUG")
    async with gateway(httpx.MockTransport(lambda _: next(answers))) as sms:
        with pytest.raises(SmsUnavailable):
            await sms.send("13912345678", "您的验证码 654321", reference="otp-9")
        await sms.send("13912345678", "您的验证码 654321", reference="otp-9")
    logged = caplog.text
    assert "otp-9" in logged and "SM02" in logged
    assert "13912345678" not in logged and "654321" not in logged


def test_a_report_signature_is_the_hex_hmac_of_the_exact_body() -> None:
    body = b'{"message_id":"SM01","reference":"otp-1","status":"delivered","at":"x"}'
    signature = report_signature(SECRET, body)
    assert signature == hmac.new(SECRET, body, hashlib.sha256).hexdigest()
    assert report_is_authentic(SECRET, body, signature)
    assert report_is_authentic(SECRET, body, signature.upper())  # hex in either case


def test_a_forged_or_altered_report_is_not_authentic() -> None:
    body = b'{"message_id":"SM01","reference":"otp-1","status":"delivered","at":"x"}'
    signature = report_signature(SECRET, body)
    assert not report_is_authentic(SECRET, body.replace(b"delivered", b"failed"), signature)
    assert not report_is_authentic(b"another secret", body, signature)
    assert not report_is_authentic(SECRET, body, report_signature(b"guess", body))
    assert not report_is_authentic(SECRET, body, "")
    assert not report_is_authentic(SECRET, body, "sha256=" + signature)


def test_a_report_body_reads_as_a_delivery_report() -> None:
    report = DeliveryReport.model_validate_json(
        b'{"message_id":"SM01","reference":"otp-1","status":"failed",'
        b'"at":"2026-12-02T20:00:00+00:00","extra":1}'
    )
    assert (report.message_id, report.reference, report.status) == ("SM01", "otp-1", "failed")
    with pytest.raises(ValueError):
        DeliveryReport.model_validate_json(
            b'{"message_id":"SM01","reference":"r","status":"lost","at":"2026-12-02T20:00:00Z"}'
        )


def test_the_portal_refuses_the_development_report_secret_outside_development() -> None:
    production = Settings(tongban_env="production", sms_report_secret=DEVELOPMENT_SMS_REPORT_SECRET)
    with pytest.raises(InsecureConfiguration, match="SMS_REPORT_SECRET"):
        production.fail_closed("The portal", "portal")
    # Another service does not take the reports: its problems do not name the secret.
    assert not any("SMS_REPORT_SECRET" in p for p in production.insecure_settings("intake"))
    given = production.model_copy(update={"sms_report_secret": SecretStr("a real one")})
    assert not any("SMS_REPORT_SECRET" in p for p in given.insecure_settings("portal"))


def test_the_contracts_report_example_is_a_true_test_vector() -> None:
    """contracts/sms-gateway.md shows a report and its signature under the development secret:
    a gateway's implementer checks their HMAC against it, so it must be right."""
    contract = (Path(__file__).resolve().parents[2] / "contracts/sms-gateway.md").read_text(
        encoding="utf-8"
    )
    example = contract.split("```http\n", 1)[1].split("```", 1)[0]
    head, body = example.split("\n\n", 1)
    headers = dict(line.split(": ", 1) for line in head.splitlines()[1:])
    raw = body.rstrip("\n").encode()

    assert report_is_authentic(
        DEVELOPMENT_SMS_REPORT_SECRET.encode(), raw, headers[SIGNATURE_HEADER]
    )
    assert DeliveryReport.model_validate_json(raw).status == "delivered"


async def test_the_gateway_of_the_settings_is_the_one_they_name() -> None:
    settings = Settings(sms_gateway_url="http://sms.example:9000/", sms_timeout_seconds=1.5)
    sms = SmsGateway.of(settings)
    try:
        assert sms.base_url == "http://sms.example:9000"
        assert sms._http.timeout.read == 1.5
    finally:
        await sms.aclose()
