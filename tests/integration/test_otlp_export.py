"""Spans leave the services over OTLP/HTTP (OTEL_EXPORTER_OTLP_ENDPOINT) as a collector receives
them: the test stack exports to a real OTLP receiver (tests/otlp_receiver.py, which decodes the
protobuf), and one application's journey through intake, routing, approval and delivery is one
trace there, with no applicant's identity in any span."""

from __future__ import annotations

import pytest

from tests import factories
from tests.harness import Stack, eventually
from tests.otlp_receiver import OtlpReceiver, ReceivedSpan
from tooling.journey import household_application

pytestmark = pytest.mark.integration

SERVICES = {"tongban-intake", "tongban-routing", "tongban-approval", "tongban-delivery"}


async def test_one_journey_is_one_trace_at_the_otlp_collector_without_personal_data(
    stack: Stack, otlp_receiver: OtlpReceiver
) -> None:
    trip = stack.journey()
    applicant = factories.applicant("340104")
    response = await trip.submit(household_application(applicant))
    assert response.status_code == 201, response.text
    number = response.json()["application_no"]
    trace_id = response.headers["X-Trace-Id"]

    await trip.approve(number, "340100")
    await trip.wait_in_print_queue(number)
    assert (await trip.hand_over(number, applicant["id_number"])).status_code == 200
    await trip.wait_for_status(number, "delivered")

    # The hand-over's span is among the last to be exported.
    async def all_services_reported() -> list[ReceivedSpan] | None:
        mine = [
            span
            for span in otlp_receiver.spans()
            if span.attributes.get("tongban.application_no") == number
        ]
        handed_over = any(
            span.service == "tongban-delivery" and span.name == "certificate hand-over"
            for span in mine
        )
        return mine if {span.service for span in mine} >= SERVICES and handed_over else None

    mine = await eventually(all_services_reported)
    assert isinstance(mine, list)
    assert {span.trace_id for span in mine} == {trace_id}

    identity = [applicant["id_number"], applicant["phone"], applicant["name"]]
    for span in otlp_receiver.spans():
        for text in span.texts():
            assert not [value for value in identity if value in text], (span.service, span.name)
