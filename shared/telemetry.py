"""OpenTelemetry and logging setup shared by every service.

Each service gets its own TracerProvider (its resource names the service) for the spans it makes
itself and for its FastAPI and httpx instrumentation. asyncpg and aiokafka are instrumented
process-wide, once. Personal data never goes into spans: callers put application numbers and
localities there, and log records pass through `PersonalDataFilter` as a last line of defence.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.instrumentation.aiokafka import AIOKafkaInstrumentor
from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExporter,
)
from opentelemetry.trace import Link, Span, SpanKind, Tracer

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
            name, context=parent, kind=kind, attributes=attributes
        ) as span:
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
            name, context=parent, links=links, attributes=attributes
        ) as span:
            yield span

    def shutdown(self) -> None:
        self.provider.force_flush()


def setup_telemetry(
    service: str, *, otlp_endpoint: str | None = None, exporter: SpanExporter | None = None
) -> Telemetry:
    """A tracer provider for `service`: spans go to `exporter` (tests) or OTLP if configured."""
    provider = TracerProvider(resource=Resource.create({"service.name": f"tongban-{service}"}))
    if exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    elif otlp_endpoint:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        endpoint = otlp_endpoint.rstrip("/") + "/v1/traces"
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    _instrument_process(provider)
    return Telemetry(
        service=service, provider=provider, tracer=provider.get_tracer(f"tongban.{service}")
    )


def _instrument_process(provider: TracerProvider) -> None:
    # Process-wide instrumentations can be installed once; in a one-service process (the normal
    # deployment) the first provider is that service's own.
    if isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
        trace.set_tracer_provider(provider)
    if not AsyncPGInstrumentor().is_instrumented_by_opentelemetry:
        AsyncPGInstrumentor().instrument(tracer_provider=trace.get_tracer_provider())
    if not AIOKafkaInstrumentor().is_instrumented_by_opentelemetry:
        AIOKafkaInstrumentor().instrument(tracer_provider=trace.get_tracer_provider())


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
# in x), and a mobile number with or without +86.
_ID_PATTERN = re.compile(
    r"(?<![0-9A-Za-z])[0-9A-HJ-NP-RTUWXY]{17}[0-9A-HJ-NP-RTUWXYx](?![0-9A-Za-z])"
)
_PHONE_PATTERN = re.compile(r"(?<![0-9A-Za-z])(\+?86[- ]?)?(1[3-9]\d{9})(?![0-9A-Za-z])")


def mask_personal_data(text: str) -> str:
    text = _ID_PATTERN.sub(lambda m: mask_id_number(m.group(0)), text)
    return _PHONE_PATTERN.sub(lambda m: (m.group(1) or "") + mask_phone(m.group(2)), text)


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
