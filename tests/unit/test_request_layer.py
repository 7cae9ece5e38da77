"""The one layer before the router (shared.request_layer): one server span per request, named by
the route template and in the caller's trace, its id in X-Trace-Id; the answer in the language
asked for; probes timed but not traced; an escaping exception recorded by its type only."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from shared.i18n import _
from shared.metrics import ServiceMetrics
from shared.request_layer import RequestLayer

CALLER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


def app_with(exporter: InMemorySpanExporter) -> FastAPI:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    app = FastAPI()

    @app.get("/v1/cases/{application_no}")
    async def case(application_no: str) -> dict[str, str]:
        return {"message": _("A bearer token is required.")}

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/v1/broken")
    async def broken() -> None:
        raise ValueError("holder 340104199001011234")

    app.add_middleware(
        RequestLayer, metrics=ServiceMetrics("approval"), tracer=provider.get_tracer("t")
    )
    return app


async def test_one_server_span_per_request_named_by_route_in_the_callers_trace() -> None:
    exporter = InMemorySpanExporter()
    transport = httpx.ASGITransport(app=app_with(exporter))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.get(
            "/v1/cases/TB3412002026000001",
            headers={"traceparent": f"00-{CALLER_TRACE}-00f067aa0ba902b7-01"},
        )
        fresh = await client.get("/v1/cases/TB3412002026000002")

    spans = exporter.get_finished_spans()
    assert [span.name for span in spans] == [
        "GET /v1/cases/{application_no}",
        "GET /v1/cases/{application_no}",
    ]
    assert all(span.kind == SpanKind.SERVER for span in spans)
    assert response.headers["x-trace-id"] == CALLER_TRACE
    assert format(spans[0].context.trace_id, "032x") == CALLER_TRACE
    assert fresh.headers["x-trace-id"] == format(spans[1].context.trace_id, "032x")
    assert fresh.headers["x-trace-id"] != CALLER_TRACE
    assert spans[0].attributes is not None
    assert spans[0].attributes["http.response.status_code"] == 200


async def test_texts_in_the_language_asked_for_and_chinese_otherwise() -> None:
    transport = httpx.ASGITransport(app=app_with(InMemorySpanExporter()))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        english = await client.get("/v1/cases/X", headers={"Accept-Language": "en-US,en;q=0.9"})
        chinese = await client.get("/v1/cases/X")

    assert english.headers["content-language"] == "en"
    assert english.json()["message"] == "A bearer token is required."
    assert chinese.headers["content-language"] == "zh-CN"
    assert chinese.json()["message"] != "A bearer token is required."


async def test_probes_get_no_span() -> None:
    exporter = InMemorySpanExporter()
    transport = httpx.ASGITransport(app=app_with(exporter))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.get("/healthz")

    assert response.status_code == 200
    assert "x-trace-id" not in response.headers
    assert exporter.get_finished_spans() == ()


async def test_an_escaping_exception_is_an_error_span_recorded_by_its_type_only() -> None:
    exporter = InMemorySpanExporter()
    transport = httpx.ASGITransport(app=app_with(exporter), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.get("/v1/broken")

    assert response.status_code == 500
    (span,) = exporter.get_finished_spans()
    assert span.status.status_code == StatusCode.ERROR
    assert span.attributes is not None
    assert span.attributes["http.response.status_code"] == 500
    (event,) = span.events
    assert event.attributes is not None
    assert event.attributes["exception.message"] == "ValueError"
    assert "340104199001011234" not in str(event.attributes)
