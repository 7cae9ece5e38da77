"""The one ASGI layer every service request passes before the router: its server span, its
`X-Trace-Id`, its language and its duration metric.

These were five layers (OpenTelemetry's ASGI middleware with FastAPIInstrumentor's exception
wrapper, then RequestDuration, LocaleMiddleware and TraceIdHeader), each wrapping `send` and
scanning the headers again; together they were a sixth of intake's CPU per accepted
application. One pass over the headers now reads Accept-Language and the trace context, and one
`send` wrapper notes the status and adds both headers.

Plain ASGI (no BaseHTTPMiddleware, which costs a task per request).
"""

from __future__ import annotations

from collections.abc import Collection
from time import perf_counter
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind, Status, StatusCode, Tracer
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.i18n import HTTP_TAGS, negotiate, use_locale
from shared.metrics import HTTP_METHODS, UNMATCHED_ROUTE, ServiceMetrics
from shared.telemetry import record_error

# Probes and scrapes: timed, but no span (they would drown the requests that matter).
UNTRACED = frozenset({"/healthz", "/readyz", "/metrics"})
# The headers that carry a caller's trace context (W3C trace context and baggage).
_PROPAGATED = frozenset({b"traceparent", b"tracestate", b"baggage"})


class RequestLayer:
    """One server span per request (named `<METHOD> <route template>`, in the trace of the
    caller's `traceparent` if any), `X-Trace-Id` on the answer (operators paste it into the
    tracing UI), the request's texts in the language Accept-Language asks for (Content-Language
    says which), and `tongban_http_request_duration_seconds` by route template.

    Added last, it is the outermost of the service's own layers: a 413 of the body limit is
    timed, traced and translated too."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        metrics: ServiceMetrics,
        tracer: Tracer,
        untraced: Collection[str] = UNTRACED,
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.tracer = tracer
        self.untraced = frozenset(untraced)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = perf_counter()
        accept_language: str | None = None
        carrier: dict[str, str] = {}
        for name, value in scope["headers"]:
            if name == b"accept-language":
                accept_language = value.decode("latin-1")
            elif name in _PROPAGATED:
                carrier[name.decode("latin-1")] = value.decode("latin-1")
        locale = negotiate(accept_language)
        content_language = HTTP_TAGS[locale].encode("latin-1")
        method: str = scope["method"]
        span = None
        trace_id = b""
        if scope["path"] not in self.untraced:
            span = self.tracer.start_span(
                method,
                context=propagate.extract(carrier) if carrier else None,
                kind=SpanKind.SERVER,
                attributes={
                    "http.request.method": method,
                    "url.path": scope["path"],
                    "url.scheme": scope.get("scheme", "http"),
                },
            )
            trace_id = format(span.get_span_context().trace_id, "032x").encode("latin-1")
        status = 500  # an exception that escapes the app becomes a 500 further out

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers: list[Any] = list(message.get("headers", ()))
                if not any(name.lower() == b"content-language" for name, _ in headers):
                    headers.append((b"content-language", content_language))
                if trace_id:
                    headers.append((b"x-trace-id", trace_id))
                message["headers"] = headers
            await send(message)

        span_token = (
            otel_context.attach(trace.set_span_in_context(span)) if span is not None else None
        )
        failed = False
        try:
            with use_locale(locale):
                await self.app(scope, receive, send_with_headers)
        except BaseException as exc:
            if span is not None:
                record_error(span, exc)  # by its type only: messages may quote personal data
                failed = True
            raise
        finally:
            if span_token is not None:
                otel_context.detach(span_token)
            route = getattr(scope.get("route"), "path", None)
            if span is not None:
                self._finish(span, method, route, status, failed=failed)
            self.metrics.observe_request(
                method if method in HTTP_METHODS else "other",
                route or UNMATCHED_ROUTE,
                status,
                perf_counter() - started,
            )

    @staticmethod
    def _finish(
        span: trace.Span, method: str, route: str | None, status: int, *, failed: bool
    ) -> None:
        if route is not None:
            span.update_name(f"{method} {route}")
            span.set_attribute("http.route", route)
        span.set_attribute("http.response.status_code", status)
        if status >= 500 and not failed:  # record_error set the status with the type already
            span.set_status(Status(StatusCode.ERROR))
        span.end()
