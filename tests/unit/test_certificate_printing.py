"""The printable certificate (delivery's pdf.py) and the limit on public verification, without
the stack: the Chinese text of the page is extractable, and the limiter counts per address."""

from __future__ import annotations

import shutil
import subprocess
from datetime import date
from pathlib import Path

import pytest

from services.delivery.api import VerificationLimiter
from services.delivery.pdf import PrintableDocument, render, seal_fingerprint

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
    seal_signer="seal-340100#1",
    seal_signature=b"\x01" * 64,
    verify_url="https://tongban.example/v1/certificates/NTC2026000001/verify",
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
        "seal-340100#1",
        seal_fingerprint(NOTICE.seal_signature),
    ):
        assert expected and expected in words, expected


def test_the_verification_limit_counts_per_client_address() -> None:
    limiter = VerificationLimiter(2)
    assert [limiter.hit("10.0.0.1") for _ in range(2)] == [None, None]
    retry_after = limiter.hit("10.0.0.1")
    assert retry_after is not None and 1 <= retry_after <= 60
    assert limiter.hit("10.0.0.2") is None  # another address has its own count
