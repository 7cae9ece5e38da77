"""Printable certificates and their public verification (delivery), on the real broker and
database: a sealed certificate issued on tongban.approval.events is kept in delivery's registry,
printed as a PDF whose text, rendering and QR code read back, and verified by anyone holding the
QR code's URL (number and verification code); a changed row, a forged seal, a revocation (or its
signed event changed) and an expiry all answer `valid: false` with the reason.

The tests issue the documents themselves, as approval would: content sealed with the key
ring's `seal-<locality>`, the holder's name sealed for delivery, the event signed by the
issuer's seal."""

from __future__ import annotations

import base64
import dataclasses
import json
import shutil
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from PIL import Image
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from services.delivery.domain import code_digest
from services.delivery.ratelimit import VerificationLimiter
from services.delivery.usecases.documents import holder_name_place
from shared.certificates import CertificateContent, canonical_document
from shared.crypto.personal import PersonalData
from shared.crypto.sm import sm2_generate, sm2_sign
from shared.identity import mask_name
from shared.messaging import events, topics
from shared.messaging.envelope import Envelope
from tests.certificates import certificate_issued, certificate_revoked, routed_for
from tests.harness import Stack, eventually, header, read_topic
from tests.printed import first_page, pdf_text, qr_codes, ring_text

pytestmark = pytest.mark.integration

HEFEI = "340100"
WUHU = "340200"
WINDOW = "W341200-01"  # the receiving window, in 阜阳
ITEM_CODE = "GA-HJ-001"
ITEM_NAME = "户口迁移证明开具"
HOLDER = "欧阳证照"


@pytest.fixture(scope="module")
async def delivery_db(stack: Stack) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(stack.settings.service_database_url("delivery"))
    yield engine
    await engine.dispose()


def new_numbers() -> tuple[str, str]:
    suffix = uuid.uuid4().hex[:10].upper()
    return f"TBDOC{suffix}", f"CERT{suffix}"


def content_for(
    application_no: str,
    number: str,
    *,
    issuer: str = HEFEI,
    issued_on: date | None = None,
    valid_until: date | None = None,
) -> CertificateContent:
    return CertificateContent(
        number=number,
        application_no=application_no,
        item_code=ITEM_CODE,
        item_name=ITEM_NAME,
        holder_name=HOLDER,
        holder_id_digest="ab" * 32,
        issuer_locality=issuer,
        issuer_department="公安局",
        issued_on=issued_on or date.today(),
        valid_until=valid_until,
    )


def sealed_by(content: CertificateContent, stack: Stack, key: str) -> events.DocumentSeal:
    """The content sealed with the key ring's `key`, whoever's seal that is."""
    signer = stack.settings.key_ring().signer(key)
    signature = signer.sign(canonical_document(content))
    return events.DocumentSeal(signer=signer.kid, signature=base64.b64encode(signature).decode())


async def put(producer: AIOKafkaProducer, stack: Stack, payload: events.EventPayload) -> Envelope:
    """`payload` on tongban.approval.events, signed as approval signs it (the locality's seal).
    Routing's fact that this locality is competent for the application goes first."""
    assert isinstance(payload, events.ApplicationEvent)
    await routed_for(stack, producer, payload)
    envelope, _ = await stack.publish(producer, payload, topics.APPROVAL_EVENTS)
    return envelope


async def issue(
    producer: AIOKafkaProducer,
    stack: Stack,
    content: CertificateContent,
    document_seal: events.DocumentSeal | None = None,
) -> Envelope:
    return await put(producer, stack, certificate_issued(stack, content, document_seal))


async def approve(producer: AIOKafkaProducer, stack: Stack, content: CertificateContent) -> None:
    """The approval that follows the issue: the certificate goes to the 阜阳 window."""
    await put(
        producer,
        stack,
        events.ApplicationApproved(
            application_no=content.application_no,
            locality=content.issuer_locality,
            item_code=content.item_code,
            decided_at=datetime.now(UTC),
            receiving_locality="341200",
            window_id=WINDOW,
            holder_name_masked=mask_name(content.holder_name),
            holder_id_digest=content.holder_id_digest,
            delivery=events.Delivery(method="window_pickup"),
            certificate_no=content.number,
            item_name=content.item_name,
        ),
    )


async def issued_and_approved(
    producer: AIOKafkaProducer, stack: Stack, engine: AsyncEngine
) -> tuple[str, str, CertificateContent]:
    """A new certificate issued and its application approved, as approval announces them, once
    delivery's registry holds it: its application number, number and content."""
    application_no, number = new_numbers()
    content = content_for(application_no, number)
    await issue(producer, stack, content)
    await approve(producer, stack, content)
    await wait_registered(engine, number)
    return application_no, number, content


async def registered(engine: AsyncEngine, number: str) -> bool:
    async with engine.connect() as connection:
        found = await connection.scalar(
            text("SELECT count(*) FROM certificates WHERE number = :number"), {"number": number}
        )
    return bool(found)


async def wait_registered(engine: AsyncEngine, number: str) -> None:
    async def there() -> bool:
        return await registered(engine, number)

    await eventually(there)


async def verify(stack: Stack, url: str) -> dict[str, Any]:
    """The public answer at `url`, a QR code's verification URL."""
    async with stack.client("delivery") as client:
        response = await client.get(relative(url))
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def relative(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


async def verification_url(stack: Stack, number: str, issuer: str = HEFEI) -> str:
    """What the certificate's QR code carries (X-Tongban-Verify-Url of a print by a reviewer
    of the issuing locality)."""
    response = await print_when_ready(stack, stack.token("approver", issuer), number)
    return response.headers["X-Tongban-Verify-Url"]


def clerk(stack: Stack, window_id: str = WINDOW, locality: str = "341200") -> str:
    return stack.token("window_clerk", locality, window_id=window_id)


async def print_when_ready(stack: Stack, token: str, number: str) -> httpx.Response:
    """The PDF, once the certificate and its receiving window (the approval, a moment after
    the issue) are both in delivery's registry."""
    async with stack.client("delivery", token) as client:

        async def printed() -> httpx.Response | None:
            response = await client.get(f"/v1/certificates/{number}.pdf")
            return response if response.status_code == 200 else None

        response = await eventually(printed)
    assert isinstance(response, httpx.Response)
    return response


def rgb_pixels(image: Image.Image) -> list[tuple[int, int, int]]:
    raw = image.convert("RGB").tobytes()
    return [(raw[i], raw[i + 1], raw[i + 2]) for i in range(0, len(raw), 3)]


@pytest.fixture(scope="module", autouse=True)
def poppler() -> None:
    missing = [tool for tool in ("pdftotext", "pdftoppm") if shutil.which(tool) is None]
    assert not missing, f"{missing}: run `python -m tooling.infra --prepare` (poppler-utils)"


async def test_a_printed_certificate_reads_back_and_its_qr_code_verifies(
    stack: Stack, producer: AIOKafkaProducer, delivery_db: AsyncEngine, tmp_path: Path
) -> None:
    application_no, number = new_numbers()
    content = content_for(application_no, number, valid_until=date.today() + timedelta(days=365))
    await issue(producer, stack, content)
    await approve(producer, stack, content)
    await wait_registered(delivery_db, number)

    response = await print_when_ready(stack, clerk(stack), number)
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["X-Tongban-Print"] == "1"
    path = tmp_path / f"{number}.pdf"
    path.write_bytes(response.content)

    words = pdf_text(path)
    for expected in (ITEM_NAME, number, HOLDER, "电子证照", "合肥市公安局"):
        assert expected in words, f"{expected!r} not in the PDF's text"
    # What a person reads names no key id and no address (the QR code carries the URL), and
    # the first print is no reprint.
    for unexpected in ("seal-", "http", stack.settings.public_base_url, "补打"):
        assert unexpected not in words, f"{unexpected!r} printed for people to read"
    # The seal's ring carries the issuing office's full name, not only its city's.
    assert ring_text(path) == "合肥市公安局"

    page = first_page(path)
    assert page.size[0] < page.size[1]  # portrait A4
    pixels = rgb_pixels(page)
    inked = sum(1 for pixel in pixels if pixel != (255, 255, 255))
    assert inked > page.size[0] * page.size[1] // 50, "the page is (nearly) blank"
    # The seal mark is red.
    assert any(r > 150 and g < 80 and b < 80 for r, g, b in pixels)

    [qr] = qr_codes(page)
    url = f"{stack.settings.public_base_url}/v1/certificates/{number}/verify?code="
    assert qr.startswith(url) and len(qr) >= len(url) + 22  # 128 bits, base64url
    assert response.headers["X-Tongban-Verify-Url"] == qr

    first = await verify(stack, qr)
    answer = await verify(stack, qr)
    assert answer["valid"] is True, answer
    assert answer["holder_name_masked"] == mask_name(HOLDER) == "欧***"
    assert (answer["issuer_locality"], answer["item_code"]) == (HEFEI, ITEM_CODE)
    assert answer["issued_at"] == content.issued_on.isoformat()
    assert answer["valid_until"] == content.valid_until.isoformat()  # type: ignore[union-attr]
    assert HOLDER not in str(answer)
    # Every verification is counted.
    assert answer["verifications"] == first["verifications"] + 1


def printed_text(response: httpx.Response, path: Path) -> str:
    path.write_bytes(response.content)
    return pdf_text(path)


async def test_reprints_are_recorded_and_only_the_receiving_window_and_issuer_print(
    stack: Stack, producer: AIOKafkaProducer, delivery_db: AsyncEngine, tmp_path: Path
) -> None:
    _, number, _ = await issued_and_approved(producer, stack, delivery_db)

    first = await print_when_ready(stack, clerk(stack), number)
    async with stack.client("delivery", clerk(stack)) as client:
        second = await client.get(f"/v1/certificates/{number}.pdf")
    assert first.headers["X-Tongban-Print"] == "1"
    assert second.status_code == 200
    assert second.headers["X-Tongban-Print"] == "2"
    # The reprint says so on the paper, with its print number; the first print does not.
    assert "补打" not in printed_text(first, tmp_path / "first.pdf")
    assert "补打（第2次打印）" in printed_text(second, tmp_path / "second.pdf")

    # A clerk at another window, a reviewer of another locality: as if it did not exist.
    elsewhere = clerk(stack, "W340104-01", "340104")
    wuhu = stack.token("approver", WUHU)
    for token in (elsewhere, wuhu):
        async with stack.client("delivery", token) as client:
            refused = await client.get(f"/v1/certificates/{number}.pdf")
        assert refused.status_code == 404, refused.text
        assert refused.json()["error"]["code"] == "certificate_not_found"
    # The issuing locality's reviewer prints it (a third print).
    async with stack.client("delivery", stack.token("approver", HEFEI)) as client:
        third = await client.get(f"/v1/certificates/{number}.pdf")
    assert third.status_code == 200
    assert third.headers["X-Tongban-Print"] == "3"
    assert "补打（第3次打印）" in printed_text(third, tmp_path / "third.pdf")

    async with delivery_db.connect() as connection:
        prints = (
            await connection.execute(
                text(
                    "SELECT ordinal, reprint, role, window_id FROM certificate_prints "
                    "WHERE certificate_no = :number ORDER BY ordinal"
                ),
                {"number": number},
            )
        ).all()
    assert [tuple(row) for row in prints] == [
        (1, False, "window_clerk", WINDOW),
        (2, True, "window_clerk", WINDOW),
        (3, True, "approver", None),
    ]


async def test_a_changed_registry_row_does_not_verify(
    stack: Stack, producer: AIOKafkaProducer, delivery_db: AsyncEngine
) -> None:
    numbers = [new_numbers() for _ in range(2)]
    for application_no, number in numbers:
        await issue(producer, stack, content_for(application_no, number))
    urls = {}
    for _, number in numbers:
        await wait_registered(delivery_db, number)
        urls[number] = await verification_url(stack, number)
        assert (await verify(stack, urls[number]))["valid"] is True

    (_, by_column), (_, in_content) = numbers
    async with delivery_db.begin() as connection:
        await connection.execute(
            text("UPDATE certificates SET item_name = '建设工程规划许可' WHERE number = :n"),
            {"n": by_column},
        )
        await connection.execute(
            text(
                "UPDATE certificates SET content = jsonb_set(content::jsonb, "
                "'{issuer_department}', '\"自然资源局\"')::json WHERE number = :n"
            ),
            {"n": in_content},
        )
    for number in (by_column, in_content):
        answer = await verify(stack, urls[number])
        assert (answer["valid"], answer["reason"]) == (False, "signature_invalid"), answer
        # A changed row vouches for nothing: no details.
        assert answer["item_code"] is None and answer["holder_name_masked"] is None
    # Nor is it printed.
    async with stack.client("delivery", stack.token("approver", HEFEI)) as client:
        refused = await client.get(f"/v1/certificates/{by_column}.pdf")
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "seal_invalid"


async def test_a_certificate_sealed_with_another_localitys_seal_is_dead_lettered(
    stack: Stack, producer: AIOKafkaProducer
) -> None:
    application_no, number = new_numbers()
    content = content_for(application_no, number)
    # The event is rightly signed for 合肥, but the document carries 芜湖's seal.
    forged = await issue(producer, stack, content, sealed_by(content, stack, f"seal-{WUHU}"))

    dlq = topics.dead_letter(topics.APPROVAL_EVENTS)
    records = await read_topic(
        stack.settings,
        dlq,
        until=lambda found: any(
            header(r, "ce_id") == forged.id and header(r, "dlq.consumer") == "tongban.delivery"
            for r in found
        ),
    )
    [record] = [
        r
        for r in records
        if header(r, "ce_id") == forged.id and header(r, "dlq.consumer") == "tongban.delivery"
    ]
    assert "not_issuers_seal" in (header(record, "dlq.error.message") or "")
    async with stack.client("delivery") as public:
        answer = await public.get(f"/v1/certificates/{number}/verify", params={"code": "x" * 22})
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "certificate_not_found"


async def test_a_row_inserted_with_a_signature_of_another_key_does_not_verify(
    stack: Stack, delivery_db: AsyncEngine
) -> None:
    ring = stack.settings.key_ring()
    personal = PersonalData(ring)
    genuine_kid = ring.signer(f"seal-{HEFEI}").kid
    rogue, _ = sm2_generate()
    cases = {
        # 合肥's key id, a key 合肥 never had.
        "signature_invalid": lambda c: (genuine_kid, sm2_sign(rogue, canonical_document(c))),
        # 芜湖's real seal on a 合肥 certificate.
        "not_issuers_seal": lambda c: (
            ring.signer(f"seal-{WUHU}").kid,
            ring.signer(f"seal-{WUHU}").sign(canonical_document(c)),
        ),
        # A key nobody published.
        "unknown_seal": lambda c: (f"seal-{HEFEI}#99", sm2_sign(rogue, canonical_document(c))),
    }
    for reason, sign in cases.items():
        application_no, number = new_numbers()
        code = uuid.uuid4().hex
        content = content_for(application_no, number)
        signer, signature = sign(content)
        stored = content.model_dump(mode="json")
        stored["holder_name"] = personal.encrypt(HOLDER, where=holder_name_place(number))
        async with delivery_db.begin() as connection:
            await connection.execute(
                text(
                    "INSERT INTO certificates (number, kind, application_no, issuer_locality, "
                    "item_code, item_name, content, seal_signer, seal_signature, issued_on, "
                    "valid_until, received_at, verifications, verification_code_digest) "
                    "VALUES (:number, 'certificate', :application_no, :issuer, :item_code, "
                    ":item_name, CAST(:content AS json), :signer, :signature, :issued_on, NULL, "
                    "now(), 0, :digest)"
                ),
                {
                    "number": number,
                    "application_no": application_no,
                    "issuer": HEFEI,
                    "item_code": ITEM_CODE,
                    "item_name": ITEM_NAME,
                    "content": json.dumps(stored, ensure_ascii=False),
                    "signer": signer,
                    "signature": base64.b64encode(signature).decode(),
                    "issued_on": content.issued_on,
                    "digest": code_digest(code),
                },
            )
        answer = await verify(stack, f"/v1/certificates/{number}/verify?code={code}")
        assert (answer["valid"], answer["reason"]) == (False, reason), answer


async def test_revoked_and_expired_certificates_do_not_verify(
    stack: Stack, producer: AIOKafkaProducer, delivery_db: AsyncEngine
) -> None:
    application_no, revoked = new_numbers()
    await issue(producer, stack, content_for(application_no, revoked))
    expired_application, expired = new_numbers()
    today = date.today()
    await issue(
        producer,
        stack,
        content_for(
            expired_application,
            expired,
            issued_on=today - timedelta(days=3 * 365),
            valid_until=today - timedelta(days=1),
        ),
    )
    await wait_registered(delivery_db, revoked)
    revoked_url = await verification_url(stack, revoked)
    assert (await verify(stack, revoked_url))["valid"] is True

    await put(
        producer,
        stack,
        certificate_revoked(application_no, revoked, locality=HEFEI),
    )

    async def revoked_now() -> dict[str, Any] | None:
        answer = await verify(stack, revoked_url)
        return answer if answer["reason"] == "revoked" else None

    answer = await eventually(revoked_now)
    assert isinstance(answer, dict)
    assert answer["valid"] is False
    assert answer["revoked_at"] is not None
    async with stack.client("delivery", stack.token("approver", HEFEI)) as client:
        refused = await client.get(f"/v1/certificates/{revoked}.pdf")
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "certificate_revoked"

    await wait_registered(delivery_db, expired)
    answer = await verify(stack, await verification_url(stack, expired))
    assert (answer["valid"], answer["reason"]) == (False, "expired"), answer
    assert answer["valid_until"] == (today - timedelta(days=1)).isoformat()


async def test_verification_is_rate_limited_per_client_address(stack: Stack) -> None:
    app = stack.services["delivery"].app
    previous = app.state.dependencies
    # The running service's own limiter, with a small limit for the duration of the test.
    app.state.dependencies = dataclasses.replace(
        previous, verification_limiter=VerificationLimiter(3)
    )
    try:
        async with stack.client("delivery") as client:
            answers = [await client.get(f"/v1/certificates/CERTNONE{n}/verify") for n in range(4)]
    finally:
        app.state.dependencies = previous
    assert [a.status_code for a in answers] == [404, 404, 404, 429]
    refused = answers[-1]
    assert refused.json()["error"]["code"] == "rate_limited"
    assert set(refused.json()["error"]) == {"code", "message", "details"}
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
