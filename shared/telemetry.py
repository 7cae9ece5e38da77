"""OpenTelemetry and logging setup shared by every service.

Each service gets its own TracerProvider (its resource names the service) for the spans it makes
itself and for its FastAPI and httpx instrumentation: a span per request, and per event published
and consumed. aiokafka is instrumented process-wide, once; asyncpg (a span per SQL statement,
which added a fifth to intake's CPU per accepted application) only when TELEMETRY_SQL_SPANS asks.
Personal data never goes into spans: callers put application numbers and localities there, and
log records pass through `PersonalDataFilter` as a last line of defence.

Exception messages may quote personal data (a value that failed validation, a database error's
DETAIL): our spans record an exception by its type only (`record_error`), and every span leaves
through `ScrubbingSpanExporter`, which does the same to what instrumentations recorded (FastAPI
records an exception's message and a status "Type: message") and masks ID and phone numbers in
every attribute and in stack traces.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.instrumentation.aiokafka import AIOKafkaInstrumentor
from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.trace import Link, Span, SpanKind, Status, StatusCode, Tracer

from shared.identity import mask_id_number, mask_phone

__all__ = [
    "PersonalDataFilter",
    "Telemetry",
    "configure_logging",
    "context_from_traceparent",
    "current_trace_id",
    "setup_telemetry",
    "suppress_instrumentation",
]


@dataclass(frozen=True)
class Telemetry:
    service: str
    provider: TracerProvider
    tracer: Tracer

    @contextmanager
    def span(
        self,
        name: str,
        *,
        kind: SpanKind = SpanKind.INTERNAL,
        parent: otel_context.Context | None = None,
        attributes: dict[str, str] | None = None,
    ) -> Iterator[Span]:
        with self.tracer.start_as_current_span(
            name,
            context=parent,
            kind=kind,
            attributes=attributes,
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            with _recording_errors(span):
                yield span

    @contextmanager
    def journey_span(
        self, name: str, traceparent: str | None, *, attributes: dict[str, str] | None = None
    ) -> Iterator[Span]:
        """A span in the application's own trace (from the `traceparent` stored with it), linked
        to the request that triggered it. An approver's decision days later thus lands in the
        same trace as the window's POST, and operators still reach the approver's request."""
        current = trace.get_current_span().get_span_context()
        links = [Link(current)] if current.is_valid else []
        parent = context_from_traceparent(traceparent) if traceparent else None
        with self.tracer.start_as_current_span(
            name,
            context=parent,
            links=links,
            attributes=attributes,
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            with _recording_errors(span):
                yield span

    def shutdown(self) -> None:
        self.provider.force_flush()


@contextmanager
def _recording_errors(span: Span) -> Iterator[None]:
    try:
        yield
    except BaseException as exc:
        record_error(span, exc)
        raise


def record_error(span: Span, exc: BaseException) -> None:
    """Record `exc` on `span` by its type, never its message (which may quote personal data);
    the stack trace is kept, masked."""
    name = type(exc).__name__
    span.record_exception(
        exc,
        attributes={
            "exception.message": name,
            "exception.stacktrace": mask_personal_data(_stacktrace(exc)),
        },
    )
    span.set_status(Status(StatusCode.ERROR, name))


def _stacktrace(exc: BaseException) -> str:
    import traceback

    # The frames only: the last line (and those of chained exceptions) would repeat messages.
    frames = traceback.format_tb(exc.__traceback__)
    return "Traceback (most recent call last):\n" + "".join(frames) + type(exc).__qualname__


class ScrubbingSpanExporter(SpanExporter):
    """Exports through `inner` what spans may show: exception events reduced to their type,
    error statuses to the exception's type, ID and phone numbers masked in every attribute."""

    def __init__(self, inner: SpanExporter) -> None:
        self.inner = inner

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return self.inner.export([scrubbed(span) for span in spans])

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.inner.force_flush(timeout_millis)


def scrubbed(span: ReadableSpan) -> ReadableSpan:
    events = [
        Event(event.name, _scrubbed_attributes(event.attributes, event.name), event.timestamp)
        for event in span.events
    ]
    status = span.status
    if status.description:
        # The SDK and instrumentations describe an error as "Type: message": the type stays.
        description = status.description.split(":", 1)[0]
        status = Status(status.status_code, mask_personal_data(description))
    return ReadableSpan(
        name=span.name,
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes=_scrubbed_attributes(span.attributes, None),
        events=events,
        links=span.links,
        kind=span.kind,
        status=status,
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )


def _scrubbed_attributes(
    attributes: Mapping[str, Any] | None, event: str | None
) -> dict[str, Any] | None:
    if attributes is None:
        return None
    clean: dict[str, Any] = {}
    for name, value in attributes.items():
        if event == "exception" and name == "exception.message":
            value = str(attributes.get("exception.type", "error")).rsplit(".", 1)[-1]
        elif isinstance(value, str):
            value = mask_personal_data(value)
        elif isinstance(value, (list, tuple)):
            value = [mask_personal_data(v) if isinstance(v, str) else v for v in value]
        clean[name] = value
    return clean


def setup_telemetry(
    service: str,
    *,
    otlp_endpoint: str | None = None,
    exporter: SpanExporter | None = None,
    sql_spans: bool = False,
) -> Telemetry:
    """A tracer provider for `service`: spans go to `exporter` (tests) and to OTLP/HTTP if
    configured (both in the tests, which check what a collector receives); with `sql_spans`,
    a span per SQL statement too."""
    provider = TracerProvider(resource=Resource.create({"service.name": f"tongban-{service}"}))
    if exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(ScrubbingSpanExporter(exporter)))
    if otlp_endpoint:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        endpoint = otlp_endpoint.rstrip("/") + "/v1/traces"
        otlp = ScrubbingSpanExporter(OTLPSpanExporter(endpoint=endpoint))
        provider.add_span_processor(BatchSpanProcessor(otlp))
    _instrument_process(provider, sql_spans=sql_spans)
    return Telemetry(
        service=service, provider=provider, tracer=provider.get_tracer(f"tongban.{service}")
    )


def _instrument_process(provider: TracerProvider, *, sql_spans: bool) -> None:
    # Process-wide instrumentations can be installed once; in a one-service process (the normal
    # deployment) the first provider is that service's own. SQL spans, once a service of the
    # process asked for them, stay for every service of it (`uninstrument_sql` ends them).
    if isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
        trace.set_tracer_provider(provider)
    if sql_spans and not sql_instrumented():
        AsyncPGInstrumentor().instrument(tracer_provider=trace.get_tracer_provider())
    if not AIOKafkaInstrumentor().is_instrumented_by_opentelemetry:
        AIOKafkaInstrumentor().instrument(tracer_provider=trace.get_tracer_provider())


def sql_instrumented() -> bool:
    return bool(AsyncPGInstrumentor().is_instrumented_by_opentelemetry)


def uninstrument_sql() -> None:
    """No more spans per SQL statement in this process (tests that turned them on)."""
    if sql_instrumented():
        AsyncPGInstrumentor().uninstrument()


def kafka_instrumented() -> bool:
    return bool(AIOKafkaInstrumentor().is_instrumented_by_opentelemetry)


def context_from_traceparent(
    traceparent: str | None, tracestate: str | None = None
) -> otel_context.Context:
    carrier = {"traceparent": traceparent} if traceparent else {}
    if tracestate:
        carrier["tracestate"] = tracestate
    return propagate.extract(carrier)


def current_traceparent() -> tuple[str | None, str | None]:
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier.get("traceparent"), carrier.get("tracestate")


def current_trace_id() -> str | None:
    span_context = trace.get_current_span().get_span_context()
    if not span_context.is_valid:
        return None
    return format(span_context.trace_id, "032x")


# Whole tokens only (no letter or digit either side), so hex trace ids and application numbers
# are left alone: an 18-character resident ID or USCC (GB 32100 alphabet; resident IDs may end
# in x); a mobile number with or without +86, its groups written together or apart
# ("138 1234 5678", "138-1234-5678"); a landline with its area code set apart
# ("0551-12345678", "(0551) 1234567", "0551 1234567", an extension "-123" after it).
_ID_PATTERN = re.compile(
    r"(?<![0-9A-Za-z])[0-9A-HJ-NP-RTUWXY]{17}[0-9A-HJ-NP-RTUWXYx](?![0-9A-Za-z])"
)
_PHONE_PATTERN = re.compile(
    r"(?<![0-9A-Za-z])((?:\+|00)?86[- ]?)?(1[3-9]\d[- ]?\d{4}[- ]?\d{4})(?![0-9A-Za-z])"
)
_LANDLINE_PATTERN = re.compile(
    r"(?<![0-9A-Za-z(])(\(0\d{2,3}\)[- ]?|0\d{2,3}[- ])(\d{7,8})((?:-\d{1,6})?)(?![0-9A-Za-z])"
)


def _masked_mobile(match: re.Match[str]) -> str:
    return (match.group(1) or "") + mask_phone(re.sub(r"[- ]", "", match.group(2)))


def _masked_landline(match: re.Match[str]) -> str:
    # The area code says only the city; the number keeps its last 4 digits, as mask_phone does.
    local = match.group(2)
    extension = "-" + "*" * (len(match.group(3)) - 1) if match.group(3) else ""
    return match.group(1) + "*" * (len(local) - 4) + local[-4:] + extension


def mask_personal_data(text: str) -> str:
    text = _ID_PATTERN.sub(lambda m: mask_id_number(m.group(0)), text)
    text = _PHONE_PATTERN.sub(_masked_mobile, text)
    return _LANDLINE_PATTERN.sub(_masked_landline, text)


class PersonalDataFilter(logging.Filter):
    """Masks ID and phone numbers in every log record, whatever the caller forgot."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_personal_data(message)
        if masked != message:
            record.msg, record.args = masked, None
        # Exception messages end up in the traceback text: format it now, masked; formatters
        # use a ready exc_text instead of formatting exc_info again.
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_personal_data(record.exc_text)
        if record.stack_info:
            record.stack_info = mask_personal_data(record.stack_info)
        return True


def configure_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(PersonalDataFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
