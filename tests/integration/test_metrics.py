"""GET /metrics on every service, as Prometheus scrapes it (no token): what an operator's
dashboards and alerts read after real traffic through the real broker and database."""

from __future__ import annotations

import uuid

import pytest
from aiokafka import AIOKafkaProducer
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from shared.messaging import topics
from shared.runtime import ServiceRuntime
from tests import factories
from tests.harness import Stack, eventually, header, read_topic
from tooling.journey import household_application

pytestmark = pytest.mark.integration

SERVICES = ("intake", "routing", "approval", "approval_b", "delivery")
HEFEI_REQUESTS = topics.approval_requests("340100")


async def scrape(stack: Stack, service: str) -> tuple[str, list[Sample]]:
    async with stack.client(service) as client:
        response = await client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=")
    text = response.text
    return text, [s for f in text_string_to_metric_families(text) for s in f.samples]


def named(samples: list[Sample], name: str, **labels: str) -> list[Sample]:
    return [
        s
        for s in samples
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
    ]


def runtime_of(stack: Stack, service: str) -> ServiceRuntime:
    runtime: ServiceRuntime = stack.services[service].app.state.runtime
    return runtime


@pytest.fixture(scope="module")
async def in_review(stack: Stack) -> str:
    """One application submitted at a 阜阳 window whose case waits in 合肥, never decided."""
    trip = stack.journey()
    accepted = await trip.submit(household_application(factories.applicant("340104")))
    assert accepted.status_code == 201, accepted.text
    number: str = accepted.json()["application_no"]
    await trip.wait_for_case(number, "340100")
    return number


@pytest.fixture(scope="module")
async def approved(stack: Stack) -> dict[str, str]:
    """One application submitted at a 阜阳 window and approved in 合肥."""
    trip = stack.journey()
    applicant = factories.applicant("340104")
    accepted = await trip.submit(household_application(applicant))
    assert accepted.status_code == 201, accepted.text
    number = accepted.json()["application_no"]
    await trip.wait_for_status(number, "in_review")  # the window reads the application
    await trip.approve(number, "340100")
    await trip.wait_in_print_queue(number)
    return {
        "application_no": number,
        "name": applicant["name"],
        "id_number": applicant["id_number"],
        "phone": applicant["phone"],
    }


async def test_intake_times_the_submission_by_its_route_and_no_label_names_the_application(
    stack: Stack, approved: dict[str, str]
) -> None:
    _, intake = await scrape(stack, "intake")
    submitted = named(
        intake,
        "tongban_http_request_duration_seconds_count",
        service="intake",
        method="POST",
        route="/v1/applications",
        status="201",
    )
    assert submitted and submitted[0].value >= 1
    # The application's own reads are one series under the template, not one per number.
    reads = named(intake, "tongban_http_request_duration_seconds_count", method="GET")
    assert "/v1/applications/{application_no}" in {s.labels["route"] for s in reads}

    routes: set[str] = set()
    for service in SERVICES:
        text, samples = await scrape(stack, service)
        for secret in approved.values():
            assert secret not in text, f"{service} shows {secret!r}"
        routes |= {s.labels["route"] for s in samples if "route" in s.labels}
    # Routes are templates (or `unmatched`), never a path with a number in it.
    assert "/v1/applications/{application_no}" in routes
    assert all(route.startswith(("/", "unmatched")) for route in routes), routes
    assert not any(approved["application_no"] in route for route in routes)


async def test_approval_counts_the_approved_case_of_hefei(
    stack: Stack, approved: dict[str, str], in_review: str
) -> None:
    async def approved_in_hefei() -> float:
        _, samples = await scrape(stack, "approval")
        found = named(samples, "tongban_cases", locality="340100", status="approved")
        return found[0].value if found else 0

    assert await eventually(approved_in_hefei) >= 1  # type: ignore[operator]
    _, samples = await scrape(stack, "approval")
    # Warnings and overdue cases are reported for each locality with cases in review (Hefei
    # has the undecided one), and are some of those cases, never more.
    in_review_by_locality = {
        s.labels["locality"]: s.value for s in named(samples, "tongban_cases", status="in_review")
    }
    assert in_review_by_locality.get("340100", 0) >= 1, in_review_by_locality
    for name in ("tongban_cases_warning", "tongban_cases_overdue"):
        flagged = {s.labels["locality"]: s.value for s in named(samples, name)}
        assert flagged.keys() == in_review_by_locality.keys(), name
        assert all(0 <= flagged[code] <= in_review_by_locality[code] for code in flagged), name
    # approval_b serves other localities from its own database: Hefei's case is not there.
    _, other = await scrape(stack, "approval_b")
    assert not named(other, "tongban_cases", locality="340100")


async def test_every_consumer_group_reports_its_lag(stack: Stack, approved: dict[str, str]) -> None:
    for service in SERVICES:
        groups = {runner.group_id for runner in runtime_of(stack, service).consumers}
        assert groups, service

        async def reported(service: str = service, groups: set[str] = groups) -> list[Sample]:
            _, samples = await scrape(stack, service)
            lags = named(samples, "tongban_consumer_lag_messages")
            return lags if {s.labels["group"] for s in lags} >= groups else []

        lags: list[Sample] = await eventually(reported)  # type: ignore[assignment]
        assert lags, service
        # A lag is what the group has not handled yet: whole records, never negative.
        assert all(s.value >= 0 and s.value == int(s.value) for s in lags), service
        assert all(s.labels["partition"].isdigit() and s.labels["topic"] for s in lags)


OUTBOX_GAUGES = (
    "tongban_outbox_pending_events",
    "tongban_outbox_oldest_pending_age_seconds",
    "tongban_outbox_parked_events",
)


async def test_every_service_shows_its_outbox_backlog(
    stack: Stack, approved: dict[str, str]
) -> None:
    for service in SERVICES:
        runtime = runtime_of(stack, service)

        async def drained(service: str = service) -> list[Sample] | None:
            """A scrape where the relay has sent everything: nothing pending, no age."""
            _, samples = await scrape(stack, service)
            pending, age = (named(samples, name) for name in OUTBOX_GAUGES[:2])
            drained = [s.value for s in pending] == [0] and [s.value for s in age] == [0]
            return samples if drained else None

        samples: list[Sample] = await eventually(drained)  # type: ignore[assignment]
        for name in OUTBOX_GAUGES:
            found = named(samples, name)
            assert [s.labels["service"] for s in found] == [runtime.service]
        # Parked rows stay until an operator acts: the gauge says what the table holds.
        parked = named(samples, "tongban_outbox_parked_events")[0].value
        assert parked == (await runtime.relay.stats()).parked, service
    # Intake published the accepted application through its outbox.
    _, intake = await scrape(stack, "intake")
    published = named(intake, "tongban_events_published_total", topic=topics.INTAKE_EVENTS)
    assert sum(s.value for s in published) >= 1


async def test_a_poison_record_counts_as_a_dead_letter(
    stack: Stack, producer: AIOKafkaProducer
) -> None:
    consumer = runtime_of(stack, "approval").consumers[0].name

    async def dead_letters() -> float:
        _, samples = await scrape(stack, "approval")
        found = named(
            samples,
            "tongban_dead_letters_total",
            consumer=consumer,
            topic=HEFEI_REQUESTS,
            error_type="EnvelopeError",
        )
        return sum(s.value for s in found)

    before = await dead_letters()
    poison = f"not a cloudevent {uuid.uuid4()}".encode()
    await producer.send_and_wait(HEFEI_REQUESTS, value=poison, key=b"garbage", partition=0)
    await read_topic(
        stack.settings,
        topics.dead_letter(HEFEI_REQUESTS),
        until=lambda records: any(
            r.value == poison and header(r, "dlq.consumer") == consumer for r in records
        ),
    )

    async def counted() -> bool:
        return await dead_letters() == before + 1

    await eventually(counted)
    _, samples = await scrape(stack, "approval")
    outcomes = named(
        samples,
        "tongban_events_consumed_total",
        consumer=consumer,
        topic=HEFEI_REQUESTS,
        outcome="dead_lettered",
    )
    assert sum(s.value for s in outcomes) >= 1
