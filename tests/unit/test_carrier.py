"""The carrier adapter (retries, one idempotency key, a clear error when the carrier is away),
the webhook's HMAC check, and delivery failing closed on the development webhook secret."""

from __future__ import annotations

import json
from datetime import timedelta

import httpx
import pytest
from pydantic import SecretStr

from services.delivery.carrier import CarrierClient, CarrierUnavailable, Shipment
from services.delivery.domain import (
    MAX_BACKOFF,
    retry_after,
    signature_matches,
    webhook_signature,
)
from shared.settings import DEVELOPMENT_CARRIER_WEBHOOK_SECRET, InsecureConfiguration, Settings
from tooling.carrier_simulator.engine import sign as simulator_sign

SHIPMENT = Shipment(
    reference="CERT-340100-0001",
    recipient="欧阳收件",
    phone="15805516130",
    line="蜀山区隐私路613号",
    locality="340104",
)


def client(handler: httpx.MockTransport, attempts: int = 3) -> CarrierClient:
    return CarrierClient(
        "http://carrier.test",
        name="sim-post",
        timeout_seconds=1,
        max_attempts=attempts,
        backoff_seconds=0.001,
        backoff_max_seconds=0.001,
        http=httpx.AsyncClient(base_url="http://carrier.test", transport=handler),
    )


async def test_a_carrier_answering_503_then_201_is_retried_with_the_same_key() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if len(seen) < 3:
            return httpx.Response(503)
        return httpx.Response(201, json={"tracking_no": "SP0001"})

    accepted = await client(httpx.MockTransport(answer)).create_shipment(
        SHIPMENT, idempotency_key=SHIPMENT.reference
    )

    assert accepted.tracking_no == "SP0001" and accepted.created
    assert [r.headers["Idempotency-Key"] for r in seen] == [SHIPMENT.reference] * 3
    assert len({r.content for r in seen}) == 1  # the very same request each time
    body = json.loads(seen[0].content)
    assert body["reference"] == SHIPMENT.reference
    assert body["address"] == {"line": SHIPMENT.line, "locality": SHIPMENT.locality}


async def test_a_timed_out_call_is_retried_and_the_carriers_existing_shipment_is_taken() -> None:
    calls = 0

    def answer(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if calls == 1:  # the carrier created it, but its answer never came
            raise httpx.ReadTimeout("slow", request=request)
        return httpx.Response(200, json={"tracking_no": "SP0002"})

    accepted = await client(httpx.MockTransport(answer)).create_shipment(
        SHIPMENT, idempotency_key=SHIPMENT.reference
    )

    assert (accepted.tracking_no, accepted.created, calls) == ("SP0002", False, 2)


async def test_an_unreachable_carrier_is_a_carrier_unavailable_after_the_last_attempt() -> None:
    calls = 0

    def answer(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(CarrierUnavailable) as failed:
        await client(httpx.MockTransport(answer), attempts=2).create_shipment(
            SHIPMENT, idempotency_key=SHIPMENT.reference
        )

    assert calls == 2
    assert failed.value.retryable
    assert "unreachable" in failed.value.reason
    # The reason goes on record and into logs: nothing of the address in it.
    for personal in (SHIPMENT.recipient, SHIPMENT.phone, SHIPMENT.line):
        assert personal not in failed.value.reason
    assert SHIPMENT.line not in repr(SHIPMENT)


async def test_a_refusal_by_the_carrier_is_not_retried() -> None:
    calls = 0

    def answer(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(422, json={"error": {"message": f"bad {SHIPMENT.phone}"}})

    with pytest.raises(CarrierUnavailable) as failed:
        await client(httpx.MockTransport(answer)).create_shipment(
            SHIPMENT, idempotency_key=SHIPMENT.reference
        )

    assert calls == 1 and not failed.value.retryable
    assert SHIPMENT.phone not in failed.value.reason


def test_the_webhook_signature_is_the_hmac_of_exactly_the_raw_body() -> None:
    secret = "s3cret"
    body = b'{"tracking_no":"SP1","event":"delivered","at":"2026-11-23T10:00:00+08:00"}'
    signature = webhook_signature(body, secret)

    assert signature.startswith("sha256=") and len(signature) == 7 + 64
    assert signature == simulator_sign(body, secret)  # the simulator signs the same way
    assert signature_matches(body, signature, secret)
    assert not signature_matches(body + b" ", signature, secret)
    assert not signature_matches(body.replace(b"SP1", b"SP2"), signature, secret)
    assert not signature_matches(body, webhook_signature(body, "another"), secret)
    assert not signature_matches(body, signature.removeprefix("sha256="), secret)
    assert not signature_matches(body, None, secret)
    assert not signature_matches(body, "", secret)
    assert not signature_matches(body, "sha256=ü", secret)


def test_a_failing_dispatch_waits_longer_each_time_up_to_a_limit() -> None:
    waits = [retry_after(n, 2.0) for n in range(1, 6)]
    assert waits == [timedelta(seconds=s) for s in (2, 4, 8, 16, 32)]
    assert retry_after(50, 2.0) == MAX_BACKOFF


def test_outside_development_delivery_refuses_the_development_webhook_secret() -> None:
    real = Settings(
        tongban_env="production",
        key_ring_secret="a-real-secret",
        pii_digest_key="another-real-secret",
        jwt_jwks_url="https://idp/certs",
    )
    for secret in (DEVELOPMENT_CARRIER_WEBHOOK_SECRET, ""):
        configured = real.model_copy(update={"carrier_webhook_secret": SecretStr(secret)})
        with pytest.raises(InsecureConfiguration, match="CARRIER_WEBHOOK_SECRET"):
            configured.fail_closed("The delivery service", "delivery")
    # Only delivery takes the carrier's webhooks.
    real.fail_closed("The intake service", "intake")
    real.model_copy(update={"carrier_webhook_secret": SecretStr("a-third-secret")}).fail_closed(
        "The delivery service", "delivery"
    )
