"""跨省通办, scans on request: the checks a scan passes before the competent province stores it
(services/federation/usecases/scans.py), the ids that make a repeated request send once, and
which scans approval may ask a partner for (services/approval/usecases/scans.py)."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import pytest

from services.approval.usecases.scans import carried_scans, partner_of
from services.federation.usecases.scans import (
    answer_id,
    carried_digests,
    checked_scan,
    request_id,
    scan_body,
)
from shared.federation.messages import Refusal
from shared.settings import Settings

SCAN = b"%PDF-1.4\n% the applicant's household register\n%%EOF\n"
DIGEST = hashlib.sha256(SCAN).hexdigest()
LETTER = hashlib.sha256(b"%PDF-1.4 letter").hexdigest()
APPLICATION: dict[str, Any] = {
    "application_no": "TB34120020261203000001",
    "receiving_locality": "341202",
    "materials": [{"material_code": "M01", "sha256": DIGEST}, {"material_code": "M03"}],
    "agent": {"authorization_sha256": LETTER},
}


def refused(body: dict[str, object], *, carried: set[str] | None = None, limit: int = 1024) -> str:
    with pytest.raises(Refusal) as refusal:
        checked_scan(body, {DIGEST} if carried is None else carried, max_bytes=limit)
    return refusal.value.reason


def test_a_scan_whose_bytes_are_the_carried_digest_is_accepted_as_those_bytes() -> None:
    body = scan_body("TB1", DIGEST, SCAN, "application/pdf")
    assert body["size"] == len(SCAN)
    assert checked_scan(body, {DIGEST}, max_bytes=1024) == SCAN


def test_altered_bytes_are_refused_for_their_digest() -> None:
    altered = SCAN.replace(b"household", b"h0usehold")
    assert refused(scan_body("TB1", DIGEST, altered, "application/pdf")) == "digest_mismatch"
    # One flipped bit at the end is as much a mismatch as another document.
    flipped = SCAN[:-1] + bytes([SCAN[-1] ^ 1])
    assert refused(scan_body("TB1", DIGEST, flipped, "application/pdf")) == "digest_mismatch"


def test_a_scan_the_application_does_not_name_is_refused_even_with_a_matching_digest() -> None:
    other = b"%PDF-1.4 someone else's document"
    body = scan_body("TB1", hashlib.sha256(other).hexdigest(), other, "application/pdf")
    assert refused(body) == "not_of_the_application"


def test_too_many_bytes_or_no_base64_are_refused() -> None:
    assert refused(scan_body("TB1", DIGEST, SCAN, "application/pdf"), limit=10) == "too_large"
    assert refused({"sha256": DIGEST, "content": "not base64!"}) == "malformed"
    assert refused({"sha256": DIGEST}) == "malformed"
    assert refused({"sha256": DIGEST, "content": base64.b64encode(SCAN).decode() + "A"}) in {
        "malformed",
        "digest_mismatch",
    }


def test_the_scans_an_application_carries_are_its_materials_and_its_agents_letter() -> None:
    assert carried_digests(APPLICATION) == {DIGEST, LETTER}
    assert carried_scans(APPLICATION) == {DIGEST, LETTER}
    assert carried_digests({"materials": None}) == set()


def test_asking_twice_sends_one_request_and_one_answer() -> None:
    number = "TB34120020261203000001"
    assert request_id("32", number, DIGEST) == request_id("32", number, DIGEST)
    assert answer_id("32", number, DIGEST) == answer_id("32", number, DIGEST)
    ids = {
        request_id("32", number, DIGEST),
        request_id("31", number, DIGEST),
        request_id("32", number, LETTER),
        request_id("32", "TB34120020261203000002", DIGEST),
        answer_id("32", number, DIGEST),
    }
    assert len(ids) == 5


def test_only_a_partner_provinces_application_is_asked_of_a_partner() -> None:
    assert partner_of({**APPLICATION, "receiving_locality": "320102"}, "340000") == "32"
    assert partner_of(APPLICATION, "340000") is None


def test_the_gateway_takes_a_scan_in_base64_and_no_more() -> None:
    settings = Settings(federation_max_scan_bytes=20 * 1024 * 1024)
    limit = settings.federation_max_message_bytes(256 * 1024)
    assert limit >= len(base64.b64encode(b"\0" * 20 * 1024 * 1024)) + 1024
    assert limit < 28 * 1024 * 1024
    # A gateway of small scans keeps the services' limit for everything else.
    small = Settings(federation_max_scan_bytes=64 * 1024)
    assert small.federation_max_message_bytes(256 * 1024) == 256 * 1024
