"""The printable certificate (delivery's pdf.py) and the limit on public verification, without
the stack: the Chinese text of the page is extractable, and the limiter counts per address."""

from __future__ import annotations

import dataclasses
import math
import shutil
import subprocess
from datetime import date
from pathlib import Path

import pytest
import zxingcpp
from PIL import Image
from starlette.requests import Request

from services.delivery.pdf import (
    SEAL_CENTRE,
    SEAL_RADIUS,
    PrintableDocument,
    render,
    seal_fingerprint,
)
from services.delivery.ratelimit import VerificationLimiter, client_address, trusted_networks
from tests.printed import pdf_text, ring_text, ring_words

NOTICE = PrintableDocument(
    kind="rejection_notice",
    number="NTC2026000001",
    item_code="GA-HJ-001",
    item_name="户口迁移证明开具",
    holder_name="欧阳文书",
    issuer_locality="340100",
    issuer_name="合肥市",
    issuer_department="公安局",
    issued_on=date(2026, 11, 23),
    valid_until=None,
    reason="申请材料与户籍登记信息不一致",
    seal_signature=b"\x01" * 64,
    verify_url=None,  # a rejection notice is not publicly verifiable
)


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils not installed")
def test_a_rejection_notice_prints_its_reason_and_seal_in_extractable_chinese(
    tmp_path: Path,
) -> None:
    path = tmp_path / "notice.pdf"
    path.write_bytes(render(NOTICE))
    words = subprocess.run(
        ["pdftotext", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout
    for expected in (
        "不予许可决定书",
        NOTICE.reason,
        NOTICE.holder_name,
        NOTICE.number,
        "合肥市公安局",
        seal_fingerprint(NOTICE.seal_signature),
    ):
        assert expected and expected in words, expected
    # No key id for a person to puzzle over, and a first print is no reprint.
    assert "seal-" not in words and "补打" not in words


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils not installed")
def test_a_reprint_says_so_and_no_address_is_printed_for_people(tmp_path: Path) -> None:
    certificate = dataclasses.replace(
        NOTICE,
        kind="certificate",
        reason=None,
        verify_url="https://tongban.example/v1/certificates/CERT1/verify?code=abc",
    )
    path = tmp_path / "certificate.pdf"
    path.write_bytes(render(certificate))
    first = pdf_text(path)
    assert "http" not in first and "tongban.example" not in first and "补打" not in first
    path.write_bytes(render(dataclasses.replace(certificate, print_number=3)))
    assert "补打（第3次打印）" in pdf_text(path)


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils not installed")
def test_the_seal_ring_carries_the_offices_full_name_and_a_long_one_fits(
    tmp_path: Path,
) -> None:
    path = tmp_path / "notice.pdf"
    path.write_bytes(render(NOTICE))
    assert ring_text(path) == "合肥市公安局"
    # Twenty characters: set smaller, every one of them on the ring, inside the seal.
    long_named = dataclasses.replace(
        NOTICE, issuer_name="黄山市黄山区", issuer_department="人力资源和社会保障局行政审批科"
    )
    path.write_bytes(render(long_named))
    # (The office's name printed beside the seal, which the seal overlaps, is not the ring's.)
    ring = [word for word in ring_words(path) if word[0] != long_named.issuer]
    assert "".join(text for text, *_box in ring) == long_named.issuer
    (cx, cy), radius = SEAL_CENTRE, SEAL_RADIUS
    for text, x_min, y_min, x_max, y_max in ring:
        corners = [(x, y) for x in (x_min, x_max) for y in (y_min, y_max)]
        assert all(math.hypot(x - cx, y - cy) < radius for x, y in corners), text


async def test_the_verification_limit_counts_per_client_address() -> None:
    limiter = VerificationLimiter(2)
    assert [await limiter.hit("10.0.0.1") for _ in range(2)] == [None, None]
    retry_after = await limiter.hit("10.0.0.1")
    assert retry_after is not None and 1 <= retry_after <= 60
    assert await limiter.hit("10.0.0.2") is None  # another address has its own count


def request_from(peer: str, *forwarded: str) -> Request:
    headers = [(b"x-forwarded-for", value.encode()) for value in forwarded]
    return Request({"type": "http", "client": (peer, 41000), "headers": headers})


def test_the_client_is_told_by_trusted_proxies_only() -> None:
    trusted = trusted_networks(["10.0.0.0/8", "fd00::/8"])
    # Through the ingress: the address it appended, not what the client wrote before it.
    assert client_address(request_from("10.1.2.3", "1.1.1.1, 203.0.113.7"), trusted) == (
        "203.0.113.7"
    )
    # Two trusted hops: the right-most address that is not a proxy.
    assert client_address(request_from("10.1.2.3", "203.0.113.7, 10.9.9.9"), trusted) == (
        "203.0.113.7"
    )
    assert client_address(request_from("10.1.2.3", "203.0.113.7", "10.9.9.9"), trusted) == (
        "203.0.113.7"
    )
    # An untrusted peer's X-Forwarded-For is ignored whole.
    assert client_address(request_from("198.51.100.4", "203.0.113.7"), trusted) == ("198.51.100.4")
    # A trusted peer without the header is itself the client.
    assert client_address(request_from("10.1.2.3"), trusted) == "10.1.2.3"
    # No trusted proxies configured (the default): always the peer.
    assert client_address(request_from("10.1.2.3", "203.0.113.7"), ()) == "10.1.2.3"


@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="poppler-utils not installed")
def test_a_rejection_notice_carries_no_qr_code(tmp_path: Path) -> None:
    path = tmp_path / "notice.pdf"
    path.write_bytes(render(NOTICE))
    subprocess.run(["pdftoppm", "-png", "-r", "100", str(path), str(tmp_path / "page")], check=True)
    [png] = tmp_path.glob("page*.png")
    assert zxingcpp.read_barcodes(Image.open(png)) == []
    certificate = dataclasses.replace(
        NOTICE,
        kind="certificate",
        reason=None,
        verify_url="https://tongban.example/v1/certificates/CERT1/verify?code=abc",
    )
    path.write_bytes(render(certificate))
    png.unlink()
    subprocess.run(["pdftoppm", "-png", "-r", "100", str(path), str(tmp_path / "page")], check=True)
    [png] = tmp_path.glob("page*.png")
    assert [code.text for code in zxingcpp.read_barcodes(Image.open(png))] == [
        certificate.verify_url
    ]
