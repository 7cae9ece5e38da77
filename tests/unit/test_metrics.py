"""The metrics of one service (shared.metrics): route templates instead of paths, one registry
per service, lag series that follow the assignment, scrape-time reads that survive a failure."""

from __future__ import annotations

import httpx
from aiokafka import TopicPartition
from fastapi import FastAPI
from opentelemetry.sdk.trace import TracerProvider
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from shared.metrics import ServiceMetrics
from shared.request_layer import RequestLayer


def samples(metrics: ServiceMetrics, name: str) -> list[Sample]:
    text = metrics.registry_text()
    return [
        sample
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    ]


def app_with(metrics: ServiceMetrics) -> FastAPI:
    app = FastAPI()

    @app.get("/v1/cases/{application_no}")
    async def case(application_no: str) -> dict[str, str]:
        return {"application_no": application_no}

    app.add_middleware(RequestLayer, metrics=metrics, tracer=TracerProvider().get_tracer("t"))
    return app


async def test_requests_are_labelled_with_the_route_template_never_the_path() -> None:
    metrics = ServiceMetrics("approval")
    transport = httpx.ASGITransport(app=app_with(metrics))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        assert (await client.get("/v1/cases/TB3412002026000001")).status_code == 200
        assert (await client.get("/v1/cases/TB3412002026000002")).status_code == 200
        assert (await client.get("/v1/no/such/TB3412002026000003")).status_code == 404
        await client.request("BREW", "/v1/cases/TB3412002026000004")

    counts = samples(metrics, "tongban_http_request_duration_seconds_count")
    by_labels = {
        (s.labels["method"], s.labels["route"], s.labels["status"]): s.value for s in counts
    }
    assert by_labels[("GET", "/v1/cases/{application_no}", "200")] == 2
    assert by_labels[("GET", "unmatched", "404")] == 1
    assert ("other", "/v1/cases/{application_no}", "405") in by_labels
    assert all(s.labels["service"] == "approval" for s in counts)
    assert not any("TB341200" in value for s in counts for value in s.labels.values())


def test_each_service_has_a_registry_of_its_own() -> None:
    intake, routing = ServiceMetrics("intake"), ServiceMetrics("routing")
    intake.observe_request("POST", "/v1/applications", 201, 0.01)
    routing.published("tongban.routing.events", "tongban.application.routed.v1")

    assert samples(intake, "tongban_http_request_duration_seconds_count")
    assert not samples(routing, "tongban_http_request_duration_seconds_count")
    assert not samples(intake, "tongban_events_published_total")
    assert [s.value for s in samples(routing, "tongban_events_published_total")] == [1]


def test_every_family_is_prefixed_and_counters_end_in_total() -> None:
    metrics = ServiceMetrics("delivery")
    metrics.dead_lettered("tongban.delivery", "tongban.approval.events", "EnvelopeError")
    families = list(text_string_to_metric_families(metrics.registry_text()))

    assert families and all(family.name.startswith("tongban_") for family in families)
    dead = samples(metrics, "tongban_dead_letters_total")
    assert [(s.labels["topic"], s.labels["error_type"], s.value) for s in dead] == [
        ("tongban.approval.events", "EnvelopeError", 1)
    ]


def test_lag_series_follow_the_assignment_and_never_go_negative() -> None:
    metrics = ServiceMetrics("approval")
    lag = metrics.consumer("tongban.approval", "tongban.approval")
    topic = "tongban.approval.requests.340100"
    lag.set_lag([(TopicPartition(topic, 0), 5), (TopicPartition(topic, 1), -1)])
    first = {
        s.labels["partition"]: s.value for s in samples(metrics, "tongban_consumer_lag_messages")
    }
    assert first == {"0": 5, "1": 0}

    # A rebalance took partition 0 away: its series goes, it does not stay at its last value.
    lag.set_lag([(TopicPartition(topic, 1), 2)])
    after = {
        s.labels["partition"]: s.value for s in samples(metrics, "tongban_consumer_lag_messages")
    }
    assert after == {"1": 2}


async def test_a_failed_read_at_scrape_time_keeps_the_last_values_and_is_counted() -> None:
    metrics = ServiceMetrics("intake")
    readings = iter([3, None])

    async def read_outbox() -> None:
        pending = next(readings)
        if pending is None:
            raise ConnectionError("database away")
        metrics.set_outbox(pending=pending, parked=1, oldest_pending_seconds=2.5)

    metrics.refresh_on_scrape("outbox", read_outbox)
    await metrics.exposition()
    metrics.expire_refresh()
    body, content_type = await metrics.exposition()

    assert content_type.startswith("text/plain")
    text = body.decode()
    values = {
        s.name: s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name.startswith(("tongban_outbox", "tongban_metrics_refresh_failures_total"))
    }
    assert values == {
        "tongban_outbox_pending_events": 3,
        "tongban_outbox_parked_events": 1,
        "tongban_outbox_oldest_pending_age_seconds": 2.5,
        "tongban_metrics_refresh_failures_total": 1,
    }
