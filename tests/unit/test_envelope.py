"""CloudEvents 1.0 in Kafka binary mode: what goes on the wire and what is refused."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from shared.identity import id_number_digest, mask_name, sample_resident_id
from shared.messaging import events
from shared.messaging.envelope import Envelope, EnvelopeError, Headers

APPLICATION_NO = "TB34120020250613000001"
AT = datetime(2025, 6, 13, 9, 30, 15, 123456, tzinfo=UTC)
TRACEPARENT = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
CE_HEADERS = {"ce_id", "ce_type", "ce_source", "ce_specversion", "ce_time", "ce_subject"}

CASE_OPENED = events.CaseOpened(
    application_no=APPLICATION_NO,
    locality="340100",
    deadline=date(2025, 6, 20),
    opened_at=AT,
)
APPROVED = events.ApplicationApproved(
    application_no=APPLICATION_NO,
    locality="340100",
    item_code="GA-HJ-001",
    decided_at=AT,
    reason="材料齐全，符合迁移政策",
    receiving_locality="341202",
    window_id="W-341202-01",
    holder_name_masked=mask_name("张三"),
    holder_id_digest=id_number_digest(
        sample_resident_id("341202", date(1988, 3, 14), 21), b"test-key"
    ),
    delivery=events.Delivery(method="window_pickup"),
    certificate_no="ZZ34010020250000001",
    item_name="户口迁移证明开具",
)


def envelope(
    payload: events.EventPayload,
    *,
    time: datetime = AT,
    extra_headers: dict[str, bytes] | None = None,
) -> Envelope:
    return Envelope(
        id="6f1c2e0a-2d5b-4c57-9a53-0c1f9b7e4a11",
        type=payload.event_type,
        source="tongban/approval",
        subject=payload.subject,
        time=time,
        data=payload.model_dump(mode="json"),
        extra_headers=extra_headers or {},
    )


def record(env: Envelope) -> tuple[bytes, bytes, Headers]:
    return env.to_kafka()


# --- writing ---------------------------------------------------------------------------------


def test_new_envelope_carries_the_payload_type_and_application_number() -> None:
    env = Envelope.new(CASE_OPENED, source="tongban/approval")
    assert env.type == "gov.tongban.case.opened.v1"
    assert env.subject == APPLICATION_NO
    assert env.key == APPLICATION_NO
    assert env.source == "tongban/approval"
    assert env.data == CASE_OPENED.model_dump(mode="json")
    assert env.time.tzinfo is not None
    assert env.id != Envelope.new(CASE_OPENED, source="tongban/approval").id


def test_the_record_key_is_the_application_number() -> None:
    key, _, _ = record(envelope(CASE_OPENED))
    assert key == APPLICATION_NO.encode()


def test_the_value_is_the_json_payload() -> None:
    _, value, _ = record(envelope(APPROVED))
    assert json.loads(value) == APPROVED.model_dump(mode="json")


def test_the_headers_are_exactly_the_ce_attributes_and_the_content_type() -> None:
    _, _, headers = record(envelope(CASE_OPENED))
    names = [name for name, _ in headers]
    assert sorted(names) == sorted([*CE_HEADERS, "content-type"])
    values = dict(headers)
    assert all(isinstance(value, bytes) for value in values.values())
    assert values["content-type"] == b"application/json"
    assert values["ce_specversion"] == b"1.0"
    assert values["ce_type"] == b"gov.tongban.case.opened.v1"
    assert values["ce_source"] == b"tongban/approval"
    assert values["ce_subject"] == APPLICATION_NO.encode()
    assert datetime.fromisoformat(values["ce_time"].decode()) == AT


def test_extra_headers_such_as_traceparent_travel_alongside() -> None:
    _, _, headers = record(envelope(CASE_OPENED, extra_headers={"traceparent": TRACEPARENT}))
    assert ("traceparent", TRACEPARENT) in headers
    assert {name for name, _ in headers} == {*CE_HEADERS, "content-type", "traceparent"}


# --- reading ---------------------------------------------------------------------------------


@pytest.mark.parametrize("payload", [CASE_OPENED, APPROVED], ids=["case-opened", "approved"])
def test_round_trip_keeps_every_attribute_and_the_data(payload: events.EventPayload) -> None:
    original = envelope(payload, extra_headers={"traceparent": TRACEPARENT})
    back = Envelope.from_kafka(*record(original))
    assert back.id == original.id
    assert back.type == original.type
    assert back.source == original.source
    assert back.subject == original.subject
    assert back.time == original.time
    assert back.data == original.data
    assert back.extra_headers == {"traceparent": TRACEPARENT}
    assert back == original
    assert back.payload() == payload


def test_round_trip_keeps_chinese_text() -> None:
    back = Envelope.from_kafka(*record(envelope(APPROVED)))
    assert back.data["holder_name_masked"] == "张*"
    assert back.data["reason"] == "材料齐全，符合迁移政策"


def test_round_trip_keeps_a_non_utc_time_zone() -> None:
    beijing = datetime(2025, 6, 13, 17, 30, tzinfo=timezone(timedelta(hours=8)))
    back = Envelope.from_kafka(*record(envelope(CASE_OPENED, time=beijing)))
    assert back.time == beijing
    assert back.time.utcoffset() == timedelta(hours=8)


def test_a_record_without_subject_takes_the_application_number_from_its_key() -> None:
    key, value, headers = record(envelope(CASE_OPENED))
    without_subject = [(name, raw) for name, raw in headers if name != "ce_subject"]
    assert Envelope.from_kafka(key, value, without_subject).subject == APPLICATION_NO


def test_payload_returns_the_typed_model() -> None:
    payload = Envelope.from_kafka(*record(envelope(CASE_OPENED))).payload()
    assert isinstance(payload, events.CaseOpened)
    assert payload.deadline == date(2025, 6, 20)


# --- what is refused (dead-lettered, never retried) -----------------------------------------


def _without(headers: Headers, *names: str) -> Headers:
    return [(name, raw) for name, raw in headers if name not in names]


@pytest.mark.parametrize(
    "dropped",
    [
        ("ce_id",),
        ("ce_type",),
        ("ce_source",),
        tuple(CE_HEADERS),  # a plain JSON record, not a CloudEvent at all
    ],
    ids=["no-id", "no-type", "no-source", "no-ce-headers"],
)
def test_a_record_without_its_ce_headers_is_refused(dropped: tuple[str, ...]) -> None:
    key, value, headers = record(envelope(CASE_OPENED))
    with pytest.raises(EnvelopeError):
        Envelope.from_kafka(key, value, _without(headers, *dropped))


def test_a_record_with_no_headers_at_all_is_refused() -> None:
    key, value, _ = record(envelope(CASE_OPENED))
    with pytest.raises(EnvelopeError):
        Envelope.from_kafka(key, value, [])


def test_a_record_without_a_time_is_refused() -> None:
    key, value, headers = record(envelope(CASE_OPENED))
    with pytest.raises(EnvelopeError):
        Envelope.from_kafka(key, value, _without(headers, "ce_time"))


def test_a_record_with_an_unreadable_time_is_refused() -> None:
    key, value, headers = record(envelope(CASE_OPENED))
    broken = [*_without(headers, "ce_time"), ("ce_time", b"yesterday at noon")]
    with pytest.raises(EnvelopeError):
        Envelope.from_kafka(key, value, broken)


@pytest.mark.parametrize("value", [None, b"", b"not json", b"{", b'{"application_no": '])
def test_a_record_whose_value_is_not_json_is_refused(value: bytes | None) -> None:
    key, _, headers = record(envelope(CASE_OPENED))
    with pytest.raises(EnvelopeError):
        Envelope.from_kafka(key, value, headers)


@pytest.mark.parametrize("value", [b"[1, 2]", b'"TB34120020250613000001"', b"42", b"null"])
def test_a_record_whose_json_is_not_an_object_is_refused(value: bytes) -> None:
    key, _, headers = record(envelope(CASE_OPENED))
    with pytest.raises(EnvelopeError, match="not a JSON object"):
        Envelope.from_kafka(key, value, headers)


def test_an_unknown_event_type_is_refused_on_payload() -> None:
    key, value, headers = record(envelope(CASE_OPENED))
    renamed = [*_without(headers, "ce_type"), ("ce_type", b"gov.tongban.case.exploded.v1")]
    env = Envelope.from_kafka(key, value, renamed)  # the envelope itself is readable
    with pytest.raises(EnvelopeError, match="unknown event type"):
        env.payload()


@pytest.mark.parametrize(
    "data",
    [
        {"application_no": APPLICATION_NO},  # fields missing
        {**CASE_OPENED.model_dump(mode="json"), "deadline": "next week"},  # wrong type
        {**CASE_OPENED.model_dump(mode="json"), "opened_at": "2025-06-13T09:30:00"},  # naive
        {"locality": "340100", "deadline": "2025-06-20", "opened_at": AT.isoformat()},
    ],
    ids=["missing-fields", "bad-date", "naive-time", "no-application-no"],
)
def test_a_payload_that_does_not_match_its_model_is_refused(data: dict[str, object]) -> None:
    key, _, headers = record(envelope(CASE_OPENED))
    env = Envelope.from_kafka(key, json.dumps(data).encode(), headers)
    with pytest.raises(EnvelopeError, match="does not match"):
        env.payload()
