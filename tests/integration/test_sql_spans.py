"""Spans per request and per event by default; a span per SQL statement only with
TELEMETRY_SQL_SPANS, and even then no applicant's identity in a statement's span."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind

from shared.settings import Settings
from shared.telemetry import setup_telemetry, sql_instrumented, uninstrument_sql
from tests import factories
from tests.harness import Stack, eventually
from tooling.journey import household_application

pytestmark = pytest.mark.integration


def trace_of(stack: Stack, trace_id: str) -> list[ReadableSpan]:
    return [
        span
        for span in stack.spans.get_finished_spans()
        if format(span.context.trace_id, "032x") == trace_id
    ]


def statements(spans: list[ReadableSpan]) -> list[ReadableSpan]:
    return [span for span in spans if (span.attributes or {}).get("db.system") == "postgresql"]


async def accept(stack: Stack) -> tuple[str, dict[str, str]]:
    """POST /v1/applications; the trace id, once the accepted event was published in it."""
    applicant = factories.applicant("340104")
    response = await stack.journey().submit(household_application(applicant))
    assert response.status_code == 201, response.text
    trace_id = response.headers["X-Trace-Id"]

    async def published() -> bool:
        return any(
            span.kind == SpanKind.PRODUCER and span.name.startswith("tongban.intake.events")
            for span in trace_of(stack, trace_id)
        )

    await eventually(published)
    return trace_id, applicant


@pytest.fixture
def sql_spans(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """TELEMETRY_SQL_SPANS=true in a service started now: the process's asyncpg is instrumented
    (for the services already running too); put back as it was afterwards."""
    monkeypatch.setenv("TELEMETRY_SQL_SPANS", "true")
    settings = Settings()
    assert settings.telemetry_sql_spans
    setup_telemetry("sql-spans-test", sql_spans=settings.telemetry_sql_spans)
    try:
        yield
    finally:
        uninstrument_sql()


async def test_by_default_a_request_has_its_spans_and_its_events_but_no_sql_spans(
    stack: Stack,
) -> None:
    assert not sql_instrumented()
    trace_id, _ = await accept(stack)
    spans = trace_of(stack, trace_id)
    intake = [s for s in spans if s.resource.attributes["service.name"] == "tongban-intake"]
    assert any(span.kind == SpanKind.SERVER for span in intake)  # the request
    assert any(span.kind == SpanKind.PRODUCER for span in intake)  # the event it published
    assert statements(spans) == []


async def test_with_the_setting_each_sql_statement_has_its_span_without_personal_data(
    stack: Stack, sql_spans: None
) -> None:
    trace_id, applicant = await accept(stack)
    spans = statements(trace_of(stack, trace_id))
    assert spans, "no span per SQL statement with TELEMETRY_SQL_SPANS=true"
    assert any("INSERT" in str((s.attributes or {}).get("db.statement", "")) for s in spans)
    for span in spans:
        shown = str(span.to_json())
        assert applicant["id_number"] not in shown and applicant["phone"] not in shown
