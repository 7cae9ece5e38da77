"""Sealed documents (shared.certificates): a third party checks one with contracts/
CERTIFICATES.md's recipe and the published keys alone, and Tongban's own check tells what is
wrong with a document that does not verify."""

from __future__ import annotations

import base64
import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from gmalglib.sm2 import SM2

from services.approval.domain import valid_until
from services.approval.seals import Seals
from shared.certificates import (
    CertificateContent,
    RejectionNoticeContent,
    canonical_document,
    check_seal,
    content_from,
    opened,
    published,
    seal,
)
from shared.crypto.keyring import KeyRing
from shared.crypto.personal import PersonalData
from shared.messaging.events import DocumentSeal

HEFEI = "340100"
WUHU = "340200"


@pytest.fixture
def ring(tmp_path: Path) -> KeyRing:
    return KeyRing(tmp_path / "keys", "a unit-test secret", development=True)


def certificate(**changes: Any) -> CertificateContent:
    fields: dict[str, Any] = dict(
        number="ZZ34010020260000001",
        application_no="TB202611230001",
        item_code="GA-HJ-001",
        item_name="户口迁移证明开具",
        holder_name="张晓明",
        holder_id_digest="ab" * 32,
        issuer_locality=HEFEI,
        issuer_department="合肥市公安局",
        issued_on=date(2026, 11, 23),
        valid_until=None,
    )
    return CertificateContent(**(fields | changes))


def seals_api(ring: KeyRing) -> dict[str, dict[str, Any]]:
    """What GET /v1/seals answers, by kid (services.approval.api builds it from the same
    keys)."""
    return {
        key.kid: {
            "locality": key.name.removeprefix("seal-"),
            "public_key": base64.b64encode(key.public_key).decode(),
        }
        for key in Seals(ring).public_keys()
    }


def third_party_verifies(
    content: dict[str, Any], document_seal: dict[str, str], seals: dict[str, dict[str, Any]]
) -> bool:
    """The recipe of contracts/CERTIFICATES.md, written from the document alone."""
    key = seals.get(document_seal["signer"])
    if key is None or key["locality"] != content["issuer_locality"]:
        return False
    message = json.dumps(
        content, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode()
    public = base64.b64decode(key["public_key"])
    return bool(SM2(pk=public).verify(message, base64.b64decode(document_seal["signature"])))


def test_a_sealed_certificate_verifies_with_the_documented_recipe(ring: KeyRing) -> None:
    content = certificate()
    document_seal = seal(content, Seals(ring).signer(HEFEI))
    assert document_seal.signer == "seal-340100#1"
    as_printed = json.loads(json.dumps(content.model_dump(mode="json")))
    assert third_party_verifies(as_printed, document_seal.model_dump(), seals_api(ring))

    changed = as_printed | {"holder_name": "张晓华"}
    assert not third_party_verifies(changed, document_seal.model_dump(), seals_api(ring))


def test_a_rejection_notice_verifies_with_the_same_recipe(ring: KeyRing) -> None:
    fields = certificate().model_dump(exclude={"format", "valid_until"})
    notice = RejectionNoticeContent(
        **(fields | {"number": "BY34010020260000001"}), reason="申请人户籍不在本市\n不予许可"
    )
    document_seal = seal(notice, Seals(ring).signer(HEFEI))
    as_printed = notice.model_dump(mode="json")
    assert as_printed["reason"] == "申请人户籍不在本市\n不予许可"
    assert third_party_verifies(as_printed, document_seal.model_dump(), seals_api(ring))


def test_an_altered_field_breaks_the_seal(ring: KeyRing) -> None:
    content = certificate(valid_until=date(2031, 11, 23))
    document_seal = seal(content, Seals(ring).signer(HEFEI))
    assert check_seal(content, document_seal, ring.public_key).valid

    for change in (
        {"valid_until": date(2036, 11, 23)},
        {"holder_name": "张晓华"},
        {"item_name": "户口迁入"},
    ):
        check = check_seal(content.model_copy(update=change), document_seal, ring.public_key)
        assert (check.valid, check.reason) == (False, "signature_invalid")


def test_another_localitys_seal_is_not_the_issuers(ring: KeyRing) -> None:
    content = certificate()
    with pytest.raises(ValueError, match="not the seal of 340100"):
        seal(content, Seals(ring).signer(WUHU))
    # Made anyway, by someone holding 芜湖's seal: a genuine signature of the wrong locality.
    wuhu = Seals(ring).signer(WUHU)
    forged = DocumentSeal(
        signer=wuhu.kid,
        signature=base64.b64encode(wuhu.sign(canonical_document(content))).decode(),
    )
    check = check_seal(content, forged, ring.public_key)
    assert (check.valid, check.reason) == (False, "not_issuers_seal")
    assert not third_party_verifies(
        content.model_dump(mode="json"), forged.model_dump(), seals_api(ring)
    )


def test_a_seal_by_an_unknown_key_is_refused(ring: KeyRing) -> None:
    content = certificate()
    genuine = seal(content, Seals(ring).signer(HEFEI))
    unknown = genuine.model_copy(update={"signer": "seal-340100#9"})
    check = check_seal(content, unknown, ring.public_key)
    assert (check.valid, check.reason) == (False, "unknown_seal")
    # A service's own key is not a seal, even when it signed these very bytes.
    routing = ring.signer("routing")
    by_routing = DocumentSeal(
        signer=routing.kid,
        signature=base64.b64encode(routing.sign(canonical_document(content))).decode(),
    )
    assert check_seal(content, by_routing, ring.public_key).reason == "not_issuers_seal"


def test_what_a_retired_seal_sealed_still_verifies(ring: KeyRing) -> None:
    seals = Seals(ring)
    before = certificate()
    sealed_before = seal(before, seals.signer(HEFEI))
    ring.rotate("seal-340100")
    after = certificate(number="ZZ34010020260000002")
    sealed_after = seal(after, seals.signer(HEFEI))
    assert (sealed_before.signer, sealed_after.signer) == ("seal-340100#1", "seal-340100#2")

    verifier = KeyRing(ring.directory, "a unit-test secret", development=True)
    assert check_seal(before, sealed_before, verifier.public_key).valid
    assert check_seal(after, sealed_after, verifier.public_key).valid
    assert third_party_verifies(
        before.model_dump(mode="json"), sealed_before.model_dump(), seals_api(verifier)
    )
    retired = verifier.public_key("seal-340100#1")
    assert retired is not None and retired.retired_at is not None


def test_a_rotation_by_another_process_is_picked_up_before_the_next_seal(
    ring: KeyRing,
) -> None:
    seals = Seals(ring)
    assert seals.signer(HEFEI).kid == "seal-340100#1"
    # An operator's process rotates the seal; this process still holds #1 in its cache.
    KeyRing(ring.directory, "a unit-test secret", development=True).rotate("seal-340100")
    assert seals.signer(HEFEI).kid == "seal-340100#2"


def test_the_published_form_carries_the_name_for_the_printer_only(ring: KeyRing) -> None:
    approval = PersonalData(ring, service="approval", create_missing_recipients=True)
    delivery = PersonalData(ring, service="delivery")
    content = certificate()
    document_seal = seal(content, Seals(ring).signer(HEFEI))
    document = published(content, document_seal, approval)

    assert "holder_name" not in document.content
    assert "张晓明" not in document.model_dump_json()
    assert document.holder_name_masked == "张**"
    back = opened(document, delivery)
    assert back == content
    assert check_seal(back, document.seal, ring.public_key).valid
    assert content_from(back.model_dump(mode="json")) == content


def test_a_certificate_is_valid_for_the_configured_years_or_without_limit() -> None:
    assert valid_until(date(2026, 11, 23), 0) is None  # 长期有效
    assert valid_until(date(2026, 11, 23), 5) == date(2031, 11, 23)
    assert valid_until(date(2028, 2, 29), 1) == date(2029, 2, 28)
