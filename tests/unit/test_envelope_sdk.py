"""The envelope writes and reads Kafka's binary mode itself; third parties read our records with
the CloudEvents SDK. Its headers are byte for byte the SDK's, the SDK reads our records as we
meant them, we read the SDK's (spaces and \\u escapes in the value included), and both give a
verifier the same signed bytes."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import orjson
import pytest
from cloudevents.v1.http import CloudEvent
from cloudevents.v1.kafka import KafkaMessage, from_binary, to_binary

from shared.identity import id_number_digest, mask_name, sample_resident_id
from shared.messaging import events
from shared.messaging.envelope import Envelope, EnvelopeError, Headers
from shared.messaging.signing import canonical_bytes
from tests import factories

AT = datetime(2026, 3, 2, 9, 30, 15, 123456, tzinfo=UTC)
TRACEPARENT = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def _approved() -> events.ApplicationApproved:
    holder = sample_resident_id("341202", date(1988, 3, 14), 21)
    return events.ApplicationApproved(
        application_no="TB341202-20260302-000001",
        locality="340100",
        item_code="GA-HJ-001",
        decided_at=AT,
        reason='材料齐全，"符合"迁移政策\n\t/\\ \u2028 \U0001f600',
        receiving_locality="341202",
        window_id="W341202-01",
        holder_name_masked=mask_name("张三"),
        holder_id_digest=id_number_digest(holder, b"test-key"),
        delivery=events.Delivery(method="window_pickup"),
        certificate_no="ZZ34010020260000001",
        item_name="户口迁移证明开具",
    )


def _envelope(payload: events.EventPayload, **changes: Any) -> Envelope:
    envelope = Envelope(
        id="6f1c2e0a-2d5b-4c57-9a53-0c1f9b7e4a11",
        type=payload.event_type,
        source="/tongban/approval",
        subject=payload.subject,
        time=AT,
        data=payload.model_dump(mode="json"),
    )
    return replace(envelope, **changes)


ENVELOPES = {
    "routed-signed": _envelope(
        factories.routed(), signature="c2lnbmF0dXJl", signer="routing#1", source="/tongban/routing"
    ),
    "approved-chinese-and-escapes": _envelope(
        _approved(), signature="AAAA", signer="seal-340100#2"
    ),
    "unsigned": _envelope(factories.routed()),
    "china-time-and-traceparent": _envelope(
        _approved(),
        time=datetime(2026, 3, 2, 17, 30, tzinfo=timezone(timedelta(hours=8))),
        extra_headers={"traceparent": TRACEPARENT, "tracestate": b"vendor=1"},
    ),
    "nested-nulls-and-lists": _envelope(
        factories.routed(deferred=["M02", "M03"]), signature="AAAA", signer="routing#1"
    ),
}


def sdk_to_kafka(envelope: Envelope, *, marshaller: Any = None) -> tuple[bytes, bytes, Headers]:
    """The record as the SDK's `to_binary` writes it (the envelope's own code before)."""
    attributes = {
        "id": envelope.id,
        "type": envelope.type,
        "source": envelope.source,
        "subject": envelope.subject,
        "time": envelope.time.isoformat(),
        "specversion": "1.0",
        "datacontenttype": "application/json",
    }
    if envelope.signature and envelope.signer:
        attributes |= {"signature": envelope.signature, "signer": envelope.signer}
    message = to_binary(
        CloudEvent(attributes, envelope.data),
        data_marshaller=marshaller,
        key_mapper=lambda _: envelope.key,
    )
    headers = [*message.headers.items(), *envelope.extra_headers.items()]
    key = message.key.encode() if isinstance(message.key, str) else message.key
    value = message.value.encode() if isinstance(message.value, str) else message.value
    return key or b"", value, headers


@pytest.mark.parametrize("envelope", ENVELOPES.values(), ids=ENVELOPES.keys())
def test_the_key_and_headers_are_the_sdks_byte_for_byte_and_in_its_order(
    envelope: Envelope,
) -> None:
    key, value, headers = envelope.to_kafka()
    sdk_key, sdk_value, sdk_headers = sdk_to_kafka(envelope)
    assert key == sdk_key
    assert headers == sdk_headers
    # The value: the SDK's bytes when it writes JSON with orjson too; the same JSON as its
    # default json.dumps, which spaces and \u-escapes it.
    assert value == sdk_to_kafka(envelope, marshaller=orjson.dumps)[1]
    assert json.loads(value) == json.loads(sdk_value) == envelope.data


@pytest.mark.parametrize("envelope", ENVELOPES.values(), ids=ENVELOPES.keys())
def test_the_sdk_reads_our_records_as_we_meant_them(envelope: Envelope) -> None:
    key, value, headers = envelope.to_kafka()
    read = from_binary(KafkaMessage(headers=dict(headers), key=key, value=value))
    assert read["id"] == envelope.id
    assert read["type"] == envelope.type
    assert read["source"] == envelope.source
    assert read["subject"] == envelope.subject
    assert datetime.fromisoformat(read["time"]) == envelope.time
    assert read["specversion"] == "1.0"
    assert read["datacontenttype"] == "application/json"
    assert read.get("signature") == envelope.signature
    assert read.get("signer") == envelope.signer
    assert read.get_data() == envelope.data


@pytest.mark.parametrize("envelope", ENVELOPES.values(), ids=ENVELOPES.keys())
def test_we_read_the_sdks_records_and_verify_the_same_bytes(envelope: Envelope) -> None:
    ours = Envelope.from_kafka(*envelope.to_kafka())
    theirs = Envelope.from_kafka(*sdk_to_kafka(envelope))
    assert ours == theirs == envelope
    assert canonical_bytes(ours) == canonical_bytes(theirs) == canonical_bytes(envelope)


def test_header_names_are_read_in_any_case_as_the_sdk_does() -> None:
    key, value, headers = ENVELOPES["routed-signed"].to_kafka()
    shouted = [(name.upper() if name.startswith("ce_") else name, raw) for name, raw in headers]
    assert Envelope.from_kafka(key, value, shouted) == ENVELOPES["routed-signed"]


@pytest.mark.parametrize(
    ("name", "raw", "why"),
    [
        ("ce_specversion", b"0.3", "only 1.0"),
        ("ce_id", b"\xff\xfe", "not UTF-8"),
        ("ce_source", b"", "no ce_source"),
    ],
    ids=["other-specversion", "header-not-utf8", "empty-source"],
)
def test_a_record_we_cannot_read_as_cloudevents_1_0_is_refused(
    name: str, raw: bytes, why: str
) -> None:
    key, value, headers = ENVELOPES["routed-signed"].to_kafka()
    changed = [(n, raw if n == name else r) for n, r in headers]
    with pytest.raises(EnvelopeError, match=why):
        Envelope.from_kafka(key, value, changed)
