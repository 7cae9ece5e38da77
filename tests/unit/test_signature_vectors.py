"""The published signature vectors (contracts/vectors/signatures.json) hold for Tongban's own
code: each vector's signed bytes are what the services sign and verify (RFC 8785 over the
signed array), each signature verifies with the published test key, and one changed byte
anywhere makes it fail. What Tongban does not sign (floats, integers beyond ±(2^53 - 1)) is
refused with a message naming where."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
import rfc8785

from shared.canonical import NotCanonical, canonical_json
from shared.crypto.keyring import KeyRing
from shared.crypto.sm import sm2_verify
from shared.messaging import topics
from shared.messaging.envelope import Envelope
from shared.messaging.signing import EventSigner, canonical_bytes
from tooling.vectors import VECTORS_FILE, dump_vectors

REPO_ROOT = Path(__file__).resolve().parents[2]
PUBLISHED = json.loads((REPO_ROOT / "contracts" / VECTORS_FILE).read_text(encoding="utf-8"))
VECTORS = PUBLISHED["vectors"]
SIGNED_HEADERS = ("ce_id", "ce_type", "ce_source", "ce_subject", "ce_time")


def public_key(kid: str) -> bytes:
    (key,) = [k for k in PUBLISHED["keys"] if k["kid"] == kid]
    return base64.b64decode(key["public_key"])


def envelope_of(vector: dict[str, Any], value: str | None = None) -> Envelope:
    """The vector's record as Tongban's consumers read it."""
    headers = [(name, text.encode()) for name, text in vector["headers"].items()]
    record_value = (vector["value"] if value is None else value).encode()
    return Envelope.from_kafka(vector["key"].encode(), record_value, headers)


def signature_of(vector: dict[str, Any]) -> bytes:
    return base64.b64decode(vector["headers"]["ce_signature"], validate=True)


def test_the_published_vectors_are_what_the_code_generates() -> None:
    text = (REPO_ROOT / "contracts" / VECTORS_FILE).read_text(encoding="utf-8")
    assert text == dump_vectors(), "run `tongban contracts`"
    assert len(VECTORS) >= 5
    assert {"key-order-utf16", "integers", "string-escapes", "nested"} <= {
        v["name"] for v in VECTORS
    }


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_each_vectors_bytes_are_rfc_8785_of_the_signed_array(vector: dict[str, Any]) -> None:
    expected = bytes.fromhex(vector["signed_array_hex"])
    assert canonical_bytes(envelope_of(vector)) == expected
    # The recipe of SIGNATURES.md, with nothing of Tongban's: any JCS library gives the same.
    array = [vector["headers"][name] for name in SIGNED_HEADERS]
    assert rfc8785.dumps([*array, json.loads(vector["value"])]) == expected
    assert vector["signed_array_text"].encode("utf-8") == expected


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_each_vectors_signature_verifies_with_the_published_key(vector: dict[str, Any]) -> None:
    key = public_key(vector["headers"]["ce_signer"])
    assert sm2_verify(key, bytes.fromhex(vector["signed_array_hex"]), signature_of(vector))


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_one_changed_byte_fails(vector: dict[str, Any]) -> None:
    key = public_key(vector["headers"]["ce_signer"])
    message = bytes.fromhex(vector["signed_array_hex"])
    signature = signature_of(vector)
    for position in (0, len(message) // 2, len(message) - 2):
        changed = bytearray(message)
        changed[position] ^= 0x01
        assert not sm2_verify(key, bytes(changed), signature)
    forged = bytearray(signature)
    forged[10] ^= 0x01
    assert not sm2_verify(key, message, bytes(forged))
    # A record that says something else (another time, one more member) no longer gives
    # the signed bytes.
    later = {**vector, "headers": {**vector["headers"], "ce_time": "2026-03-02T01:02:04+00:00"}}
    assert not sm2_verify(key, canonical_bytes(envelope_of(later)), signature)
    more = json.dumps({**json.loads(vector["value"]), "approved": True})
    assert not sm2_verify(key, canonical_bytes(envelope_of(vector, more)), signature)


def test_members_are_ordered_by_utf16_code_units_not_code_points() -> None:
    (vector,) = [v for v in VECTORS if v["name"] == "key-order-utf16"]
    text = vector["signed_array_text"]
    assert text.index('"😀"') < text.index('"｡"')  # U+1F600 (D83D...) before U+FF61
    assert sorted(["😀", "｡"]) == ["｡", "😀"]  # Python's own order is the other one


@pytest.mark.parametrize(
    "refused", PUBLISHED["not_signable"], ids=[v["name"] for v in PUBLISHED["not_signable"]]
)
def test_what_the_vectors_call_not_signable_is_refused(refused: dict[str, str]) -> None:
    with pytest.raises(NotCanonical, match=r"\$\.(score|count|size)"):
        canonical_json(json.loads(refused["value"]))


def test_a_producer_refuses_to_sign_a_float_or_an_integer_beyond_2_53(tmp_path: Path) -> None:
    signer = EventSigner(KeyRing(tmp_path, secret="vectors test secret", development=True))
    (vector,) = [v for v in VECTORS if v["name"] == "application-routed"]
    envelope = envelope_of(vector)
    topic = topics.approval_requests("340100")
    signer.sign(envelope, topic)  # the record as published signs
    with pytest.raises(NotCanonical, match=r"\$\[5\]\.materials\[0\]\.size: .*beyond"):
        signer.sign(envelope_of(vector, vector["value"].replace("18342", str(2**53))), topic)
    with pytest.raises(NotCanonical, match="floating-point"):
        signer.sign(envelope_of(vector, vector["value"].replace("18342", "18.5")), topic)


@pytest.mark.parametrize(
    ("value", "where"),
    [
        ({"a": [1, {"b": 0.5}]}, r"\$\.a\[1\]\.b"),
        ({1: "x"}, "not a string"),
        ({"a": "\ud800"}, "lone surrogate"),
        ({"a": b"bytes"}, "bytes is not a JSON value"),
        ({"a": -(2**53)}, "beyond"),
    ],
)
def test_canonical_json_names_what_it_refuses(value: Any, where: str) -> None:
    with pytest.raises(NotCanonical, match=where):
        canonical_json(value)


def test_the_largest_safe_integers_are_written_exactly() -> None:
    assert canonical_json({"n": [2**53 - 1, -(2**53 - 1), -0]}) == (
        b'{"n":[9007199254740991,-9007199254740991,0]}'
    )
