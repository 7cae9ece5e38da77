"""Phone numbers however written are masked, and spans never carry an exception's message."""

from __future__ import annotations

import logging
from datetime import date

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from shared.identity import sample_resident_id
from shared.telemetry import (
    PersonalDataFilter,
    ScrubbingSpanExporter,
    mask_personal_data,
    setup_telemetry,
)

ID_NUMBER = sample_resident_id("340104", date(1988, 3, 14), 21)


@pytest.mark.parametrize(
    ("written", "masked"),
    [
        ("13812345678", "138****5678"),
        ("138 1234 5678", "138****5678"),
        ("138-1234-5678", "138****5678"),
        ("+86 138 1234 5678", "+86 138****5678"),
        ("+86-138-1234-5678", "+86-138****5678"),
        ("+8613812345678", "+86138****5678"),
        ("0551-12345678", "0551-****5678"),
        ("0551 1234567", "0551 ***4567"),
        ("(0551) 1234567", "(0551) ***4567"),
        ("(010)87654321", "(010)****4321"),
        ("010-87654321-123", "010-****4321-***"),
    ],
)
def test_phone_numbers_are_masked_however_they_are_written(written: str, masked: str) -> None:
    assert mask_personal_data(f"call {written}, please") == f"call {masked}, please"


@pytest.mark.parametrize(
    "text",
    [
        "2026-01-09 12:34:56",
        "at 2026-11-24T00:30:00+08:00",
        "TB34120020261124000007",
        "trace 4bf92f3577b34da6a3ce929d0e0e4736",
        "window W341200-01, locality 341200",
        "took 0.1234567 s",
    ],
)
def test_what_is_not_a_phone_number_is_left_alone(text: str) -> None:
    assert mask_personal_data(text) == text


def test_log_lines_mask_a_phone_written_with_hyphens_and_a_landline() -> None:
    record = logging.LogRecord(
        "t", logging.INFO, __file__, 1, "reach %s or %s", ("138-1234-5678", "0551-12345678"), None
    )
    PersonalDataFilter().filter(record)
    assert record.getMessage() == "reach 138****5678 or 0551-****5678"


def test_our_spans_record_an_exception_by_its_type_only() -> None:
    exporter = InMemorySpanExporter()
    telemetry = setup_telemetry("scrub-test", exporter=exporter)
    with pytest.raises(ValueError), telemetry.span("work"):
        raise ValueError(f"bad id {ID_NUMBER}, phone 138 1234 5678")
    (span,) = exporter.get_finished_spans()
    assert span.status.status_code == StatusCode.ERROR
    assert span.status.description == "ValueError"
    (event,) = span.events
    assert event.attributes is not None
    assert event.attributes["exception.message"] == "ValueError"
    shown = str(span.to_json())
    assert ID_NUMBER not in shown and "1234 5678" not in shown


def test_the_exporter_scrubs_what_instrumentations_recorded() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(ScrubbingSpanExporter(exporter)))
    tracer = provider.get_tracer("third-party")
    # What the FastAPI instrumentation does: the SDK's default records the message, and the
    # status reads "Type: message".
    with pytest.raises(RuntimeError), tracer.start_as_current_span("request") as span:
        span.set_attribute("note", f"holder {ID_NUMBER} at 0551-12345678")
        raise RuntimeError(f"duplicate key ({ID_NUMBER}) phone 13812345678")
    (exported,) = exporter.get_finished_spans()
    assert exported.status.description == "RuntimeError"
    assert exported.events[0].attributes is not None
    assert exported.events[0].attributes["exception.message"] == "RuntimeError"
    assert exported.attributes is not None
    masked_id = ID_NUMBER[:6] + "********" + ID_NUMBER[-4:]
    assert exported.attributes["note"] == f"holder {masked_id} at 0551-****5678"
    shown = str(exported.to_json())
    assert ID_NUMBER not in shown and "13812345678" not in shown and "12345678" not in shown
