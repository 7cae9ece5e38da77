"""A real OTLP/HTTP trace receiver for the tests: what a collector takes on `POST /v1/traces`
(an `ExportTraceServiceRequest` in protobuf, `application/x-protobuf`, optionally gzipped),
decoded with opentelemetry-proto and kept in memory.

The services export to it over HTTP exactly as they would to a collector in production
(OTEL_EXPORTER_OTLP_ENDPOINT), so a test sees the spans as they leave the process: resource,
trace ids, attributes and events after the scrubbing exporter.
"""

from __future__ import annotations

import gzip
import threading
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

PROTOBUF = "application/x-protobuf"


def any_value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [any_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return attributes_of(value.kvlist_value.values)
    return getattr(value, kind)


def attributes_of(pairs: Any) -> dict[str, Any]:
    return {pair.key: any_value(pair.value) for pair in pairs}


@dataclass(frozen=True)
class ReceivedSpan:
    service: str  # the resource's service.name
    name: str
    trace_id: str  # 32 hex digits
    span_id: str
    attributes: dict[str, Any]
    # Each event's attributes (exception events: type, message, stack trace).
    event_attributes: tuple[dict[str, Any], ...] = field(default=())

    def texts(self) -> list[str]:
        """Every attribute value of the span and its events, as text."""
        values = [*self.attributes.values()]
        for attributes in self.event_attributes:
            values += attributes.values()
        return [str(value) for value in values]


class OtlpReceiver:
    def __init__(self) -> None:
        self._spans: list[ReceivedSpan] = []
        self._lock = threading.Lock()
        self.requests = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                if self.path != "/v1/traces":
                    self._answer(HTTPStatus.NOT_FOUND, b"", "text/plain")
                    return
                if self.headers.get("Content-Type", "").split(";")[0].strip() != PROTOBUF:
                    self._answer(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, b"", "text/plain")
                    return
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                request = ExportTraceServiceRequest()
                try:
                    request.ParseFromString(body)
                except DecodeError:
                    self._answer(HTTPStatus.BAD_REQUEST, b"", "text/plain")
                    return
                receiver._keep(request)
                self._answer(HTTPStatus.OK, ExportTraceServiceResponse().SerializeToString())

            def _answer(
                self, status: HTTPStatus, body: bytes, content_type: str = PROTOBUF
            ) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # one line per export would drown the test output

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="otlp-receiver", daemon=True
        )

    @property
    def endpoint(self) -> str:
        """What OTEL_EXPORTER_OTLP_ENDPOINT is set to (the exporter adds /v1/traces)."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def _keep(self, request: ExportTraceServiceRequest) -> None:
        received = []
        for resource_spans in request.resource_spans:
            resource = attributes_of(resource_spans.resource.attributes)
            service = str(resource.get("service.name", ""))
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    received.append(
                        ReceivedSpan(
                            service=service,
                            name=span.name,
                            trace_id=span.trace_id.hex(),
                            span_id=span.span_id.hex(),
                            attributes=attributes_of(span.attributes),
                            event_attributes=tuple(
                                attributes_of(event.attributes) for event in span.events
                            ),
                        )
                    )
        with self._lock:
            self._spans.extend(received)
            self.requests += 1

    def spans(self) -> list[ReceivedSpan]:
        with self._lock:
            return list(self._spans)

    def start(self) -> OtlpReceiver:
        """Serve until the process exits: the services' providers flush their last spans at
        exit (after the fixtures are torn down), and a receiver gone by then would have the
        exporter retry a dead address."""
        self._thread.start()
        return self
