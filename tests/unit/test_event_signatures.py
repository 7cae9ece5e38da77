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
from shared.messaging.envelope import Envelope, EnvelopeError
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


@pytest.mark.parametrize("number", [b"18.5", str(2**53).encode()], ids=["float", "beyond-2-53"])
def test_a_record_carrying_data_no_producer_signs_is_untrusted_not_a_crash(
    ring: KeyRing, number: bytes
) -> None:
    sent = EventSigner(ring).sign(
        Envelope.new(routed(), source="/tongban/routing"), topics.ROUTING_EVENTS
    )
    key, value, headers = sent.to_kafka()
    value = value.replace(b"}", b',"extra":' + number + b"}", 1)
    received = Envelope.from_kafka(key, value, headers)
    # UntrustedEvent is an EnvelopeError: the runner dead-letters it and reads on.
    with pytest.raises(UntrustedEvent, match="does not sign"):
        EventVerifier(ring).verify(received, topics.ROUTING_EVENTS)


# --- authority by event type ----------------------------------------------------------------


def transfer(from_locality: str = "340100", to_locality: str = "340500") -> events.CaseTransferred:
    return events.CaseTransferred(
        application_no="TB202611230001",
        from_locality=from_locality,
        to_locality=to_locality,
        reason="属地有误",
        transferred_by="approver-1",
        transferred_at=datetime.now(UTC),
    )


def test_every_event_type_approval_publishes_declares_the_one_locality_it_speaks_for() -> None:
    from shared.messaging.channels import channel_of
    from shared.messaging.signing import SPEAKS_FOR

    approval = channel_of(topics.APPROVAL_EVENTS)
    assert set(SPEAKS_FOR) == set(approval.events)
    for model, field in SPEAKS_FOR.items():
        assert field in model.model_fields, (model.__name__, field)
    assert SPEAKS_FOR[events.CaseTransferred] == "from_locality"


def test_a_transfer_speaks_for_its_from_locality_only() -> None:
    from shared.messaging.channels import channel_of
    from shared.messaging.signing import required_signer

    approval = channel_of(topics.APPROVAL_EVENTS)
    data = transfer().model_dump(mode="json") | {"locality": "340200"}
    assert required_signer(approval, events.CaseTransferred.event_type, data) == "seal-340100"
    # A case-opened speaks for `locality`, whatever else it would carry.
    opened = {"locality": "340100", "from_locality": "340200"}
    assert required_signer(approval, events.CaseOpened.event_type, opened) == "seal-340100"


def test_a_transfer_sealed_by_a_locality_it_carries_in_an_added_field_is_refused(
    ring: KeyRing,
) -> None:
    # 芜湖 (340200) adds `locality: 340200` to 合肥's transfer and seals it with its own seal.
    sent = Envelope.new(transfer(), source="/tongban/approval")
    added = Envelope(**{**sent.__dict__, "data": {**sent.data, "locality": "340200"}})
    sealed = EventSigner(ring).sign(
        Envelope(**{**added.__dict__, "data": {**added.data, "from_locality": "340200"}}),
        topics.APPROVAL_EVENTS,
    )
    forged = Envelope(**{**sealed.__dict__, "data": {**sealed.data, "from_locality": "340100"}})
    with pytest.raises(UntrustedEvent, match="must be signed by seal-340100, not seal-340200"):
        EventVerifier(ring).verify(forged, topics.APPROVAL_EVENTS)
    # Rightly sealed by 合肥, the added field still makes the payload unreadable.
    by_hefei = EventSigner(ring).sign(added, topics.APPROVAL_EVENTS)
    EventVerifier(ring).verify(by_hefei, topics.APPROVAL_EVENTS)
    with pytest.raises(EnvelopeError, match="Extra inputs are not permitted"):
        by_hefei.payload()


def test_an_approval_event_type_without_a_declared_authority_is_refused(ring: KeyRing) -> None:
    from shared.messaging.channels import channel_of
    from shared.messaging.signing import required_signer

    approval = channel_of(topics.APPROVAL_EVENTS)
    with pytest.raises(UntrustedEvent, match="no locality is declared to speak for"):
        required_signer(approval, "gov.tongban.case.invented.v1", {"locality": "340100"})
    with pytest.raises(UntrustedEvent, match="names no locality in 'from_locality'"):
        required_signer(approval, events.CaseTransferred.event_type, {"locality": "340100"})
    # Other channels are signed by their producer, whatever the type.
    assert required_signer(channel_of(topics.ROUTING_EVENTS), "anything", {}) == "routing"


def test_every_payload_model_refuses_fields_it_does_not_declare() -> None:
    with pytest.raises(ValueError, match="Extra inputs are not permitted"):
        events.Routed.model_validate(routed().model_dump(mode="json") | {"note": "x"})
    nested = transfer().model_dump(mode="json")
    assert events.CaseTransferred.model_validate(nested) == events.CaseTransferred(**nested)
    for model in events.EVENT_TYPES.values():
        assert model.model_config.get("extra") == "forbid", model.__name__
