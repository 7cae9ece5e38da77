"""Event signatures as a third party checks them (contracts/SIGNATURES.md), with nothing of
Tongban's but the published public keys."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from gmalglib.sm2 import SM2

from shared.crypto.keyring import KeyRing
from shared.messaging import events, topics
from shared.messaging.envelope import Envelope
from shared.messaging.signing import EventSigner, EventVerifier, UntrustedEvent


def routed(competent: str = "340100") -> events.Routed:
    return events.Routed(
        application_no="TB202611230001",
        competent_locality=competent,
        department="公安局",
        receiving_locality="341200",
        routed_at=datetime.now(UTC),
    )


@pytest.fixture
def ring(tmp_path: Path) -> KeyRing:
    return KeyRing(tmp_path / "keys", "a unit-test secret", development=True)


def third_party_verifies(headers: dict[str, bytes], value: bytes, public_keys: Path) -> bool:
    """The recipe of contracts/SIGNATURES.md, written from the document alone."""
    text = {name: raw.decode() for name, raw in headers.items()}
    document = [
        text["ce_id"],
        text["ce_type"],
        text["ce_source"],
        text["ce_subject"],
        text["ce_time"],
        json.loads(value),
    ]
    message = json.dumps(
        document, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode()
    keys = {key["kid"]: key for key in json.loads(public_keys.read_text())["keys"]}
    public = base64.b64decode(keys[text["ce_signer"]]["public_key"])
    return bool(SM2(pk=public).verify(message, base64.b64decode(text["ce_signature"])))


def test_a_published_event_verifies_with_the_documented_recipe(ring: KeyRing) -> None:
    envelope = EventSigner(ring).sign(
        Envelope.new(routed(), source="/tongban/routing"), topics.ROUTING_EVENTS
    )
    _, value, header_list = envelope.to_kafka()
    headers = dict(header_list)
    assert headers["ce_signer"] == b"routing#1"
    public_keys = ring.directory / "trust-list.json"
    assert third_party_verifies(headers, value, public_keys)

    changed = json.loads(value) | {"competent_locality": "340200"}
    assert not third_party_verifies(headers, json.dumps(changed).encode(), public_keys)


def test_a_round_trip_through_kafka_headers_still_verifies(ring: KeyRing) -> None:
    sent = EventSigner(ring).sign(
        Envelope.new(routed(), source="/tongban/routing"), topics.ROUTING_EVENTS
    )
    key, value, headers = sent.to_kafka()
    received = Envelope.from_kafka(key, value, headers)
    EventVerifier(ring).verify(received, topics.ROUTING_EVENTS)
    with pytest.raises(UntrustedEvent, match="must be signed by intake"):
        EventVerifier(ring).verify(received, topics.INTAKE_EVENTS)


def test_what_a_retired_key_signed_still_verifies(ring: KeyRing) -> None:
    before = EventSigner(ring).sign(
        Envelope.new(routed(), source="/tongban/routing"), topics.ROUTING_EVENTS
    )
    ring.rotate("routing")
    after = EventSigner(ring).sign(
        Envelope.new(routed(), source="/tongban/routing"), topics.ROUTING_EVENTS
    )
    assert (before.signer, after.signer) == ("routing#1", "routing#2")
    verifier = EventVerifier(KeyRing(ring.directory, "a unit-test secret", development=True))
    verifier.verify(before, topics.ROUTING_EVENTS)
    verifier.verify(after, topics.ROUTING_EVENTS)


def test_the_key_ring_does_not_open_with_another_secret(ring: KeyRing) -> None:
    ring.signer("routing")
    stranger = KeyRing(ring.directory, "not the secret", development=True)
    with pytest.raises(RuntimeError, match="KEY_RING_SECRET does not open"):
        stranger.signer("routing")
    private = (ring.directory / "private" / "routing.json").read_text()
    signer = ring.signer("routing")
    assert base64.b64encode(signer.private_key).decode() not in private


def test_a_signature_made_or_checked_here_is_not_checked_again_but_altered_bytes_are(
    ring: KeyRing, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shared.crypto import keyring
    from shared.messaging.signing import KnownSignatures

    known = KnownSignatures()
    sent = EventSigner(ring, known).sign(
        Envelope.new(routed(), source="/tongban/routing"), topics.ROUTING_EVENTS
    )
    checks: list[str] = []
    real_verify = keyring.PublicKey.verify

    def counting(self: keyring.PublicKey, message: bytes, signature: bytes) -> bool:
        checks.append(self.kid)
        return real_verify(self, message, signature)

    ring.public_keys()  # the trust list is read, and its own signature checked, once
    monkeypatch.setattr(keyring.PublicKey, "verify", counting)
    verifier = EventVerifier(ring, known)
    verifier.verify(sent, topics.ROUTING_EVENTS)  # signed here: no SM2 verification
    assert checks == []
    altered = Envelope(**{**sent.__dict__, "data": {**sent.data, "department": "别处"}})
    with pytest.raises(UntrustedEvent, match="does not verify"):
        verifier.verify(altered, topics.ROUTING_EVENTS)
    assert checks == ["routing#1"]
