"""Personal data is encrypted at rest in every service and stays off the province-wide topics.

After full journeys (accepted with an agent, one posted and one handed over at the window), no
ID number or phone number of theirs is in any text or JSON column of any table of the service
databases (found generically through information_schema, so a new table is covered), in a log
line, in an exported span, or in a record of a province-wide topic; the competent locality's
request topic carries them in clear, as its local approval system must read them.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from aiokafka.structs import ConsumerRecord
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from shared.crypto.personal import is_token
from shared.identity import sample_resident_id
from shared.messaging import events, topics
from shared.settings import with_database
from tests.conftest import TEST_DATABASES
from tests.harness import Stack, eventually, header, read_topic
from tooling.journey import AUTHORIZATION_SCAN, household_application, scan_digest

HEFEI = "340100"
PROVINCE_WIDE = (
    topics.INTAKE_EVENTS,
    topics.ROUTING_EVENTS,
    topics.APPROVAL_EVENTS,
    topics.DELIVERY_EVENTS,
)
TEXT_TYPES = ("text", "character varying", "character", "json", "jsonb")


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """Every log line the services write meanwhile, as raw as they wrote it (no masking filter:
    the code must not log personal data in the first place)."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield buffer
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def person(sequence: int, phone: str) -> dict[str, Any]:
    return {
        "kind": "person",
        "name": "欧阳隐私",
        "id_type": "resident_id",
        "id_number": sample_resident_id("340104", date(1987, 6, 5), sequence),
        "phone": phone,
        "locality": "340104",
    }


def with_agent(body: dict[str, Any], sequence: int, phone: str) -> dict[str, Any]:
    body["agent"] = {
        "name": "司马代办",
        "id_type": "resident_id",
        "id_number": sample_resident_id("341202", date(1979, 2, 3), sequence),
        "phone": phone,
        "authorization_sha256": scan_digest(AUTHORIZATION_SCAN),
    }
    return body


async def columns_holding(stack: Stack, needles: list[str]) -> list[str]:
    """`database.table.column` of every text or JSON column holding one of `needles`."""
    found = []
    for database in TEST_DATABASES.values():
        engine = create_async_engine(with_database(stack.settings.database_url, database))
        try:
            async with engine.connect() as connection:
                columns = (
                    await connection.execute(
                        text(
                            "SELECT table_name, column_name FROM information_schema.columns "
                            "WHERE table_schema = 'public' AND data_type = ANY(:types)"
                        ),
                        {"types": list(TEXT_TYPES)},
                    )
                ).all()
                assert columns, f"{database} has no text columns: the scan would prove nothing"
                for table, column in columns:
                    for needle in needles:
                        hit = await connection.scalar(
                            text(
                                f'SELECT count(*) FROM "{table}" '
                                f'WHERE position(:needle in "{column}"::text) > 0'
                            ),
                            {"needle": needle},
                        )
                        if hit:
                            found.append(f"{database}.{table}.{column} holds {needle}")
        finally:
            await engine.dispose()
    return found


def of_application(records: list[ConsumerRecord[bytes, bytes]], number: str) -> list[str]:
    return [header(r, "ce_type") or "" for r in records if header(r, "ce_subject") == number]


def readable(raw: str) -> str:
    """JSON as a person reads it: non-ASCII characters unescaped."""
    try:
        return json.dumps(json.loads(raw), ensure_ascii=False)
    except ValueError:
        return raw


def record_text(record: ConsumerRecord[bytes, bytes]) -> str:
    headers = " ".join(f"{k}={v.decode(errors='replace')}" for k, v in record.headers or ())
    return readable((record.value or b"").decode(errors="replace")) + " " + headers


async def test_after_full_journeys_no_id_or_phone_number_is_anywhere_but_the_request_topic(
    stack: Stack, log_lines: io.StringIO
) -> None:
    trip = stack.journey()
    # 1: the applicant posts it home; an agent handed it in.
    postal_body = with_agent(household_application(person(611, "13905516110")), 612, "13705516120")
    postal_body["delivery"] = {
        "method": "postal",
        "address": {
            "recipient": "欧阳收件",
            "phone": "15805516130",
            "locality": "340104",
            "line": "蜀山区隐私路613号",
        },
    }
    # 2: collected at the window by the applicant; an agent handed it in too.
    window_body = with_agent(household_application(person(621, "13905516210")), 622, "13705516220")
    numbers = []
    for body in (postal_body, window_body):
        answer = await trip.submit(body)
        assert answer.status_code == 201, answer.text
        numbers.append(answer.json()["application_no"])
    posted, collected = numbers

    # Approvers of the competent locality read the whole application, in clear.
    case = await trip.wait_for_case(posted, HEFEI)
    assert case["application"]["applicant"]["id_number"] == postal_body["applicant"]["id_number"]
    assert case["application"]["delivery"]["address"]["line"] == "蜀山区隐私路613号"
    for number in numbers:
        await trip.approve(number, HEFEI)
    # The window's answer shows the agent masked, as before.
    assert (await trip.application(posted))["agent_name_masked"] == "司***"

    await trip.wait_in_print_queue(collected)
    handed = await trip.hand_over(collected, window_body["applicant"]["id_number"])
    assert handed.status_code == 200, handed.text
    await trip.wait_for_status(collected, "delivered")

    # Delivery has the address to post, encrypted.
    delivery = create_async_engine(stack.settings.service_database_url("delivery"))
    try:

        async def dispatched() -> str | None:
            async with delivery.connect() as connection:
                address: str | None = await connection.scalar(
                    text("SELECT address FROM postal_dispatches WHERE application_no = :n"),
                    {"n": posted},
                )
            return address

        assert is_token(await eventually(dispatched))
    finally:
        await delivery.dispose()

    bodies = (postal_body, window_body)
    id_numbers = [b[who]["id_number"] for b in bodies for who in ("applicant", "agent")]
    phones = [b[who]["phone"] for b in bodies for who in ("applicant", "agent")]
    phones.append(postal_body["delivery"]["address"]["phone"])
    needles = [*id_numbers, *phones, "蜀山区隐私路613号"]

    # The province-wide topics: every event of both journeys is there, none in clear.
    wanted = {
        topics.INTAKE_EVENTS: {
            posted: events.ApplicationAccepted,
            collected: events.ApplicationAccepted,
        },
        topics.ROUTING_EVENTS: {posted: events.Routed, collected: events.Routed},
        topics.APPROVAL_EVENTS: {
            posted: events.ApplicationApproved,
            collected: events.ApplicationApproved,
        },
        topics.DELIVERY_EVENTS: {collected: events.CertificateDelivered},
    }
    for topic in PROVINCE_WIDE:
        expected = wanted[topic]

        def complete(records: list[ConsumerRecord[bytes, bytes]], expected: Any = expected) -> bool:
            return all(
                model.event_type in of_application(records, number)
                for number, model in expected.items()
            )

        records = await read_topic(stack.settings, topic, until=complete)
        ours = [r for r in records if header(r, "ce_subject") in numbers]
        leaked = [n for r in ours for n in needles if n in record_text(r)]
        assert leaked == [], f"{topic} carries personal data in clear: {leaked}"
    # ... and the sealed parts are there for their recipients.
    approved = [
        r
        for r in await read_topic(
            stack.settings,
            topics.APPROVAL_EVENTS,
            until=lambda rs: events.ApplicationApproved.event_type in of_application(rs, posted),
        )
        if header(r, "ce_subject") == posted
        and header(r, "ce_type") == events.ApplicationApproved.event_type
    ]
    decision = json.loads(approved[0].value or b"{}")
    assert decision["postal_address"]["recipient"].startswith("sealing-delivery#")
    assert decision["delivery"]["address"]["line"] == events.MASKED_LINE

    # The competent locality's own topic carries the application in clear: its system reads it.
    requests = await read_topic(
        stack.settings,
        topics.approval_requests(HEFEI),
        until=lambda rs: all(
            events.ApplicationRouted.event_type in of_application(rs, n) for n in numbers
        ),
    )
    routed = " ".join(record_text(r) for r in requests if header(r, "ce_subject") in numbers)
    for needle in needles:
        assert needle in routed

    # No table column of any service, no log line, no exported span holds them.
    assert await columns_holding(stack, needles) == []
    logged = log_lines.getvalue()
    assert [n for n in needles if n in logged] == []
    exported = [readable(span.to_json()) for span in stack.spans.get_finished_spans()]
    assert exported, "no spans were exported: the check would prove nothing"
    assert [n for n in needles for span in exported if n in span] == []
