"""Public verification that scales and leaks nothing (delivery, real broker and database):
certificate numbers are sequential, so the number alone answers nothing and only the QR code's
verification code does; rejection notices are not publicly verifiable; the limit counts per
client (through trusted proxies only) and is shared by every delivery process; a revocation
changed in the database does not make a certificate valid again."""

from __future__ import annotations

import base64
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from services.delivery.domain import code_digest
from services.delivery.main import create_app as create_delivery
from shared.certificates import RejectionNoticeContent, published, seal
from shared.crypto.personal import PersonalData
from shared.messaging import events
from tests.certificates import certificate_revoked
from tests.harness import Stack, eventually
from tests.integration.test_certificate_documents import (
    HEFEI,
    WUHU,
    clerk,
    content_for,
    issue,
    issued_and_approved,
    new_numbers,
    print_when_ready,
    put,
    relative,
    verification_url,
    verify,
    wait_registered,
)
from tests.printed import printed_qr_codes

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def delivery_db(stack: Stack) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(stack.settings.service_database_url("delivery"))
    yield engine
    await engine.dispose()


async def public_get(stack: Stack, path: str, **params: str) -> httpx.Response:
    async with stack.client("delivery") as client:
        return await client.get(path, params=params)


async def test_the_number_alone_answers_nothing_and_the_qr_codes_url_answers(
    stack: Stack, producer: AIOKafkaProducer, delivery_db: AsyncEngine, tmp_path: Path
) -> None:
    _, number, _ = await issued_and_approved(producer, stack, delivery_db)
    printed = await print_when_ready(stack, clerk(stack), number)
    [url] = printed_qr_codes(printed.content, tmp_path / f"{number}.pdf")

    _, unknown = new_numbers()
    answers = {
        "number alone": await public_get(stack, f"/v1/certificates/{number}/verify"),
        "wrong code": await public_get(
            stack, f"/v1/certificates/{number}/verify", code=uuid.uuid4().hex
        ),
        "unknown number": await public_get(stack, f"/v1/certificates/{unknown}/verify"),
        "unknown with the code": await public_get(stack, relative(url).replace(number, unknown)),
    }
    for asked, answer in answers.items():
        assert answer.status_code == 404, (asked, answer.text)
    # All the same answer: nothing tells a registered number from an unknown one.
    assert len({answer.text for answer in answers.values()}) == 1
    assert answers["number alone"].json()["error"]["code"] == "certificate_not_found"

    verified = await verify(stack, url)
    assert verified["valid"] is True and verified["number"] == number
    assert (verified["issuer_locality"], verified["holder_name_masked"]) == (HEFEI, "欧***")
    # A reprint carries the same code: the paper printed first still verifies.
    async with stack.client("delivery", clerk(stack)) as client:
        reprinted = await client.get(f"/v1/certificates/{number}.pdf")
    assert printed_qr_codes(reprinted.content, tmp_path / f"{number}-2.pdf") == [url]


def rejection_notice(
    stack: Stack, application_no: str, number: str
) -> events.RejectionNoticeIssued:
    content = RejectionNoticeContent(
        number=number,
        application_no=application_no,
        item_code="GA-HJ-001",
        item_name="户口迁移证明开具",
        holder_name="欧阳驳回",
        holder_id_digest="ef" * 32,
        issuer_locality=HEFEI,
        issuer_department="公安局",
        issued_on=date.today(),
        reason="迁入地不符合落户条件",
    )
    ring = stack.settings.key_ring()
    return events.RejectionNoticeIssued(
        application_no=application_no,
        locality=HEFEI,
        notice_no=number,
        item_code=content.item_code,
        issued_on=content.issued_on,
        document=published(
            content,
            seal(content, ring.signer(f"seal-{HEFEI}")),
            PersonalData(ring, service="approval"),
        ),
    )


async def test_a_rejection_notice_is_not_publicly_verifiable(
    stack: Stack, producer: AIOKafkaProducer, delivery_db: AsyncEngine, tmp_path: Path
) -> None:
    application_no, _ = new_numbers()
    number = f"BY{application_no[5:]}"
    await put(producer, stack, rejection_notice(stack, application_no, number))
    await wait_registered(delivery_db, number)

    # Printed for the applicant, without a QR code or a verification URL.
    printed = await print_when_ready(stack, stack.token("approver", HEFEI), number)
    assert "X-Tongban-Verify-Url" not in printed.headers
    assert printed_qr_codes(printed.content, tmp_path / f"{number}.pdf") == []

    assert (await public_get(stack, f"/v1/certificates/{number}/verify")).status_code == 404
    # Not even with a code planted in the registry's row.
    async with delivery_db.begin() as connection:
        await connection.execute(
            text("UPDATE certificates SET verification_code_digest = :d WHERE number = :n"),
            {"d": code_digest("planted"), "n": number},
        )
    planted = await public_get(stack, f"/v1/certificates/{number}/verify", code="planted")
    assert planted.status_code == 404
    assert planted.json()["error"]["code"] == "certificate_not_found"


async def revoked_certificate(
    stack: Stack, producer: AIOKafkaProducer, delivery_db: AsyncEngine
) -> tuple[str, str]:
    """A certificate the issuer revoked, once delivery has it revoked: its number and URL."""
    application_no, number = new_numbers()
    await issue(producer, stack, content_for(application_no, number))
    await wait_registered(delivery_db, number)
    url = await verification_url(stack, number)
    await put(
        producer,
        stack,
        certificate_revoked(application_no, number, locality=HEFEI),
    )

    async def revoked() -> dict[str, Any] | None:
        answer = await verify(stack, url)
        return answer if answer["reason"] == "revoked" else None

    await eventually(revoked)
    return number, url


async def change_row(engine: AsyncEngine, number: str, assignments: str, **values: Any) -> None:
    async with engine.begin() as connection:
        await connection.execute(
            text(f"UPDATE certificates SET {assignments} WHERE number = :number"),
            {"number": number, **values},
        )


async def test_a_revocation_changed_in_the_database_is_detected(
    stack: Stack, producer: AIOKafkaProducer, delivery_db: AsyncEngine
) -> None:
    number, url = await revoked_certificate(stack, producer, delivery_db)
    revoked = await verify(stack, url)
    assert (revoked["valid"], revoked["reason"]) == (False, "revoked")
    async with delivery_db.connect() as connection:
        kept = (
            await connection.execute(
                text(
                    "SELECT revocation_event, revocation_signature, revocation_signer "
                    "FROM certificates WHERE number = :n"
                ),
                {"n": number},
            )
        ).one()
    event, signature, signer = kept
    assert number in event and signer.startswith(f"seal-{HEFEI}#")

    # The unsigned columns cleared: still revoked, as of the signed event's time.
    await change_row(delivery_db, number, "revoked_at = NULL, revoked_reason = NULL")
    answer = await verify(stack, url)
    assert (answer["valid"], answer["reason"]) == (False, "revoked"), answer
    assert answer["revoked_at"] == revoked["revoked_at"]

    # The signed event changed, or signed by someone else: tampered, and vouching for nothing.
    other_signer = stack.settings.key_ring().signer(f"seal-{WUHU}")
    tamperings: dict[str, dict[str, Any]] = {
        "reason changed": {"revocation_event": event.replace("欺骗", "失误")},
        "another signature": {
            "revocation_signature": signature[:-4]
            + ("AAA=" if signature[-4:] != "AAA=" else "BBB=")
        },
        "another locality's seal": {
            "revocation_signer": other_signer.kid,
            "revocation_signature": base64.b64encode(other_signer.sign(event.encode())).decode(),
        },
    }
    for tampering, columns in tamperings.items():
        assignments = ", ".join(f"{column} = :{column}" for column in columns)
        await change_row(delivery_db, number, assignments, **columns)
        answer = await verify(stack, url)
        assert (answer["valid"], answer["reason"]) == (False, "revocation_invalid"), tampering
        assert answer["item_code"] is None and answer["revoked_at"] is None, tampering
        await change_row(
            delivery_db,
            number,
            "revocation_event = :e, revocation_signature = :s, revocation_signer = :k",
            e=event,
            s=signature,
            k=signer,
        )
    assert (await verify(stack, url))["reason"] == "revoked"

    # Another certificate's genuine revocation copied onto a valid one: it revokes only its own.
    application_no, other = new_numbers()
    await issue(producer, stack, content_for(application_no, other))
    await wait_registered(delivery_db, other)
    other_url = await verification_url(stack, other)
    await change_row(
        delivery_db,
        other,
        "revocation_event = :e, revocation_signature = :s, revocation_signer = :k",
        e=event,
        s=signature,
        k=signer,
    )
    answer = await verify(stack, other_url)
    assert (answer["valid"], answer["reason"]) == (False, "revocation_invalid"), answer


# --- the limit: per client through trusted proxies, shared by every delivery process ---------

PROXY = "10.20.0.1"
LIMIT = 20


@asynccontextmanager
async def delivery_process(stack: Stack) -> AsyncIterator[FastAPI]:
    """Another delivery process over the same database, behind the 10.20.0.0/16 proxies and with
    a limit of LIMIT per minute (its HTTP side only: consumers and relay are not started)."""
    settings = stack.services["delivery"].app.state.settings.model_copy(
        update={"trusted_proxies": ["10.20.0.0/16"], "verify_rate_limit_per_minute": LIMIT}
    )
    app = create_delivery(settings, stack.spans)
    try:
        yield app
    finally:
        await app.state.runtime.db.dispose()


@asynccontextmanager
async def peer(app: FastAPI, address: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client whose TCP peer address, as delivery sees it, is `address`."""
    transport = httpx.ASGITransport(app=app, client=(address, 41000))
    async with httpx.AsyncClient(transport=transport, base_url="http://delivery") as client:
        yield client


def a_client() -> str:
    return f"2001:db8::{uuid.uuid4().hex[:4]}"  # documentation addresses, one per test run


async def guess(client: httpx.AsyncClient, forwarded_for: str | None = None) -> int:
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    _, number = new_numbers()
    response = await client.get(
        f"/v1/certificates/{number}/verify", params={"code": uuid.uuid4().hex}, headers=headers
    )
    return response.status_code


async def test_guesses_through_a_trusted_proxy_are_limited_per_client_not_per_proxy(
    stack: Stack,
) -> None:
    guesser, neighbour = a_client(), a_client()
    async with delivery_process(stack) as app, peer(app, PROXY) as proxy:
        answers = [await guess(proxy, guesser) for _ in range(100)]
        assert answers == [404] * LIMIT + [429] * (100 - LIMIT)
        # What the guesser writes into the header itself comes before the proxy's entry.
        assert await guess(proxy, f"198.51.100.77, {guesser}") == 429
        # Another citizen behind the same ingress still gets answers.
        assert await guess(proxy, neighbour) == 404
        refused = await proxy.get(
            "/v1/certificates/CERT0/verify", headers={"X-Forwarded-For": guesser}
        )
    assert refused.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60


async def test_an_untrusted_peers_forwarded_for_is_ignored(stack: Stack) -> None:
    untrusted = f"198.51.100.{uuid.uuid4().int % 200 + 20}"
    async with delivery_process(stack) as app, peer(app, untrusted) as client:
        # Another made-up client in the header each time: all counted as the peer.
        answers = [await guess(client, a_client()) for _ in range(LIMIT + 1)]
    assert answers == [404] * LIMIT + [429]


async def test_two_delivery_processes_share_the_limit(stack: Stack) -> None:
    citizen = a_client()
    async with (
        delivery_process(stack) as first,
        delivery_process(stack) as second,
        peer(first, PROXY) as one,
        peer(second, PROXY) as other,
    ):
        half = LIMIT // 2
        assert [await guess(one, citizen) for _ in range(half)] == [404] * half
        assert [await guess(other, citizen) for _ in range(LIMIT - half)] == [404] * (LIMIT - half)
        assert await guess(one, citizen) == 429
        assert await guess(other, citizen) == 429
