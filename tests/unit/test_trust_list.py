"""The trust list and the key rings as an attacker with one pod, or one folder, meets them: a
list no service can rewrite, keys that stop verifying when revoked or retired, no key made
behind the operators' backs, and a ring secret that is stretched."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from base64 import b64encode
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from services.approval.seals import Seals
from shared.certificates import check_seal, seal
from shared.clock import CHINA_TZ
from shared.crypto import trust
from shared.crypto.keyring import KeyRing, KeyRingError, issue_trust_list, ring_public_keys
from shared.crypto.personal import DecryptionFailed, PersonalData
from shared.crypto.trust import TrustList, TrustListError
from shared.crypto.workloads import check_workload_keys, workload_keys
from shared.messaging import events, topics
from shared.messaging.envelope import Envelope
from shared.messaging.signing import (
    EventSigner,
    EventVerifier,
    UntrustedEvent,
    canonical_bytes,
)
from tests.unit.test_sealed_documents import certificate

ROOT = Path(__file__).resolve().parents[2]
SECRET = "a unit-test secret"
RANDOM_SECRET = "0123456789abcdef" * 4


@pytest.fixture
def ring(tmp_path: Path) -> KeyRing:
    return KeyRing(tmp_path / "keys", SECRET, development=True)


def routed_at(ring: KeyRing, at: datetime) -> Envelope:
    """A routing event claiming to be made at `at`, signed with routing's current key."""
    payload = events.Routed(
        application_no="TB202611230001",
        competent_locality="340100",
        department="公安局",
        receiving_locality="341200",
        routed_at=at,
    )
    envelope = replace(Envelope.new(payload, source="/tongban/routing"), time=at)
    return EventSigner(ring).sign(envelope, topics.ROUTING_EVENTS)


def a_verifier(ring: KeyRing) -> EventVerifier:
    """Another process's verifier: it reads the trust list only."""
    return EventVerifier(KeyRing(ring.directory, SECRET))


def test_a_trust_list_verifies_only_with_its_anchor(ring: KeyRing, tmp_path: Path) -> None:
    ring.signer("routing")
    assert [key.kid for key in TrustList(ring.trust.path, ring.trust.anchor).keys()] == [
        "routing#1"
    ]
    stranger = KeyRing(tmp_path / "other", SECRET, development=True)
    stranger.signer("intake")  # another authority: its anchor is not ours
    with pytest.raises(TrustListError, match="does not verify"):
        TrustList(ring.trust.path, stranger.trust.anchor).keys()


def test_a_list_rewritten_by_a_pod_is_refused_and_the_last_good_one_kept(ring: KeyRing) -> None:
    kid = ring.signer("routing").kid
    now = datetime.now(UTC)
    ring.revoke(kid, now)
    verifier = a_verifier(ring)
    assert verifier.ring.public_key(kid).revoked_at == now  # type: ignore[union-attr]

    # Whoever can write the file clears the revocation: the list no longer verifies.
    document = json.loads(ring.trust.path.read_text())
    document["keys"][0]["revoked_at"] = None
    ring.trust.path.write_text(json.dumps(document))
    with pytest.raises(TrustListError, match="altered"):
        TrustList(ring.trust.path, ring.trust.anchor).keys()
    assert verifier.ring.public_key(kid).revoked_at == now  # type: ignore[union-attr]


def test_a_revoked_key_verifies_nothing_signed_at_or_after_its_revocation(ring: KeyRing) -> None:
    revoked_at = datetime.now(UTC)
    before = routed_at(ring, revoked_at - timedelta(seconds=1))
    at = routed_at(ring, revoked_at)
    after = routed_at(ring, revoked_at + timedelta(minutes=5))
    ring.revoke("routing#1", revoked_at)
    verifier = a_verifier(ring)

    verifier.verify(before, topics.ROUTING_EVENTS)
    for late in (at, after):
        with pytest.raises(UntrustedEvent, match="routing#1 is revoked"):
            verifier.verify(late, topics.ROUTING_EVENTS)


def test_a_retired_key_verifies_nothing_signed_after_its_retirement(ring: KeyRing) -> None:
    before = routed_at(ring, datetime.now(UTC) - timedelta(minutes=1))
    stolen = ring.signer("routing")
    ring.rotate("routing")
    # Signed with the old key after the rotation, as a copy of the old ring would.
    late = replace(before, time=datetime.now(UTC) + timedelta(minutes=1))
    late = late.signed(b64encode(stolen.sign(canonical_bytes(late))).decode(), stolen.kid)
    verifier = a_verifier(ring)
    verifier.verify(before, topics.ROUTING_EVENTS)
    with pytest.raises(UntrustedEvent, match="routing#1 is retired"):
        verifier.verify(late, topics.ROUTING_EVENTS)
    verifier.verify(routed_at(ring, datetime.now(UTC)), topics.ROUTING_EVENTS)  # routing#2


def test_outside_development_no_key_is_made_on_first_use(ring: KeyRing) -> None:
    ring.signer("routing")
    production = KeyRing(ring.directory, SECRET)
    with pytest.raises(KeyRingError, match="no key 'seal-340200'"):
        production.signer("seal-340200")
    with pytest.raises(KeyRingError, match="no key 'pii'"):
        production.secret("pii")
    assert not (ring.directory / "private" / "seal-340200.json").exists()


def test_a_key_planted_in_a_folder_does_not_receive_personal_data(tmp_path: Path) -> None:
    development = KeyRing(tmp_path / "keys", SECRET, development=True)
    routing = PersonalData(development, service="routing")
    routing.ensure_own_key()
    # Intake's own ring, where a pod that can write it plants a `sealing-routing` of its own.
    intake_ring = KeyRing(
        tmp_path / "intake",
        SECRET,
        trust_list=development.trust.path,
        trust_anchor=development.trust.anchor,
    )
    intake_ring.provision("sealing-routing", "SM2-SM3")
    sealed = PersonalData(intake_ring, service="intake").seal_for(
        "routing", {"name": "张三"}, context="TB1"
    )
    # Sealed to the key the authority's list names: routing opens it, the planted key cannot.
    assert routing.unseal(sealed, context="TB1") == {"name": "张三"}
    with pytest.raises(DecryptionFailed):
        PersonalData(intake_ring, service="routing").unseal(sealed, context="TB1")


def test_the_ring_secret_is_stretched_with_a_salt_of_the_folder(tmp_path: Path) -> None:
    one = KeyRing(tmp_path / "one", SECRET, development=True)
    two = KeyRing(tmp_path / "two", SECRET, development=True)
    one.secret("pii")
    two.secret("pii")
    parameters = [json.loads((r.directory / "ring.json").read_text()) for r in (one, two)]
    assert {p["kdf"] for p in parameters} == {"scrypt"}
    assert parameters[0]["salt"] != parameters[1]["salt"]
    assert one._wrapping_key() != two._wrapping_key()  # the same secret, other keys
    with pytest.raises(KeyRingError, match="not the one the key ring was made with"):
        KeyRing(one.directory, "another secret").secret("pii")


def test_a_secret_of_256_random_bits_is_taken_as_is(tmp_path: Path) -> None:
    ring = KeyRing(tmp_path / "keys", RANDOM_SECRET, development=True)
    key = ring.secret("pii").current_key
    assert json.loads((ring.directory / "ring.json").read_text())["kdf"] == "random-256"
    assert KeyRing(ring.directory, RANDOM_SECRET).secret("pii").current_key == key
    with pytest.raises(KeyRingError, match="64 hexadecimal characters"):
        KeyRing(ring.directory, "a passphrase").secret("pii")


def test_a_ring_of_the_old_format_is_refused_saying_what_to_do(tmp_path: Path) -> None:
    old = tmp_path / "keys"
    (old / "private").mkdir(parents=True)
    (old / "private/routing.json").write_text(
        json.dumps({"name": "routing", "algorithm": "SM2-SM3", "keys": [{"kid": "routing#1"}]})
    )
    with pytest.raises(KeyRingError, match=r"older Tongban.*delete the folder"):
        KeyRing(old, SECRET, development=True).signer("routing")


def test_each_workload_needs_its_own_keys_only() -> None:
    assert set(workload_keys("approval", ["340100", "340121"])) == {
        "pii",
        "sealing-approval",
        "seal-340100",
        "seal-340121",
    }
    assert set(workload_keys("delivery")) == {"pii", "sealing-delivery", "delivery"}


def test_a_service_outside_development_with_a_missing_key_refuses_to_start(
    tmp_path: Path,
) -> None:
    """`tongban serve`, the operators' path to start a service, with an approval ring that
    lacks one locality's seal."""
    ring = KeyRing(tmp_path / "ring", RANDOM_SECRET)
    for name, algorithm in workload_keys("approval", ["340100"]).items():
        ring.provision(name, algorithm)
    environment = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "TONGBAN_ENV": "production",
        "KEY_RING_DIR": str(ring.directory),
        "KEY_RING_SECRET": RANDOM_SECRET,
        "PII_DIGEST_KEY": "a production digest key",
        "JWT_JWKS_URL": "http://127.0.0.1:9/jwks",
        "APPROVAL_LOCALITIES": "340100,340200",
    }
    result = subprocess.run(
        [sys.executable, "-m", "tooling.cli", "serve", "approval", "--port", "1"],
        env=environment,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    message = " ".join(result.stderr.split())
    assert result.returncode == 1, result.stderr
    assert "The approval service refuses to start" in message
    assert "no key seal-340200" in message
    assert "tongban keys generate --workload approval --locality 340100 --locality 340200" in (
        message
    )
    assert "There is no trust anchor" in message  # and it was given no list to trust either


def test_the_startup_check_passes_once_the_keys_and_list_are_there(tmp_path: Path) -> None:
    ring = KeyRing(tmp_path / "ring", RANDOM_SECRET)
    for name, algorithm in workload_keys("intake").items():
        ring.provision(name, algorithm)
    authority = KeyRing(tmp_path / "authority", SECRET)
    signer = authority.signer_or_provision("authority")
    anchors = [k for k in ring_public_keys(authority.directory) if k.name == "authority"]
    trust.write_anchor(anchors, ring.trust.anchor)
    with pytest.raises(KeyRingError, match="no trust list"):
        check_workload_keys(ring, "intake")
    issue_trust_list(ring_public_keys(ring.directory), signer, ring.trust)
    check_workload_keys(ring, "intake")
    assert ring.public_key("intake#1") is not None


def test_a_document_sealed_by_a_revoked_seal_verifies_only_from_before_the_revocation_day(
    ring: KeyRing,
) -> None:
    content = certificate(issued_on=date(2026, 11, 23))
    document_seal = seal(content, Seals(ring).signer("340100"))
    verifier = KeyRing(ring.directory, SECRET)
    # Revoked from the next day on (Beijing time): a document of the 23rd stays valid.
    ring.revoke("seal-340100#1", datetime(2026, 11, 24, tzinfo=CHINA_TZ))
    assert check_seal(content, document_seal, verifier.public_key).valid
    # Revoked during the 23rd: it may have been sealed after, by whoever had the key.
    ring.revoke("seal-340100#1", datetime(2026, 11, 23, 12, tzinfo=CHINA_TZ))
    check = check_seal(content, document_seal, verifier.public_key)
    assert (check.valid, check.reason) == (False, "seal_revoked")


def test_development_rings_of_several_services_share_one_list(tmp_path: Path) -> None:
    """docker-compose.yml: each service its own ring, one development list for all."""
    shared_list = {
        "trust_list": tmp_path / "trust/trust-list.json",
        "trust_anchor": tmp_path / "trust/trust-anchor.json",
    }
    intake = KeyRing(tmp_path / "intake", SECRET, development=True, **shared_list)
    routing = KeyRing(tmp_path / "routing", SECRET, development=True, **shared_list)
    intake.signer("intake")
    routing.signer("routing")
    assert [key.kid for key in intake.public_keys()] == ["intake#1", "routing#1"]
    assert not (tmp_path / "intake/private/routing.json").exists()
