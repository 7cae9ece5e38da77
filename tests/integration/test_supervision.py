"""Supervised handling at the competent locality (限时办结): claims are released or lapse, so a
case never waits on an approver who is not working on it, and every open case is warned when
three quarters of its working days are used and flagged when its deadline passes, once each."""

from __future__ import annotations

import asyncio
from datetime import date, datetime, time, timedelta

import pytest
from aiokafka import ConsumerRecord
from sqlalchemy import select

from services.approval.domain import DeadlineClock
from services.approval.usecases import supervision
from shared import clock
from shared.clock import CHINA_TZ, FixedClock, use_clock
from shared.db import Database
from shared.db.messaging_tables import outbox
from shared.messaging import topics
from shared.messaging.events import CaseDeadlineWarning, CaseOverdue
from shared.reference.catalog import get_item
from tests import factories
from tests.harness import Stack, header, read_topic
from tooling.journey import household_application

pytestmark = pytest.mark.integration


async def open_case(stack: Stack) -> str:
    trip = stack.journey()
    accepted = await trip.submit(household_application(factories.applicant()))
    assert accepted.status_code == 201, accepted.text
    number: str = accepted.json()["application_no"]
    await trip.wait_for_case(number, "340100")
    return number


async def test_a_released_case_can_be_claimed_by_another_approver(stack: Stack) -> None:
    number = await open_case(stack)
    first = stack.token("approver", "340100", sub="approver-a")
    second = stack.token("approver", "340100", sub="approver-b")
    async with stack.client("approval", first) as a, stack.client("approval", second) as b:
        assert (await a.post(f"/v1/cases/{number}/claim")).status_code == 200
        not_theirs = await b.post(f"/v1/cases/{number}/release")
        assert not_theirs.status_code == 409
        assert not_theirs.json()["error"]["code"] == "not_claimed"
        released = await a.post(f"/v1/cases/{number}/release")
        assert released.status_code == 200 and released.json()["claimed_by"] is None
        taken = await b.post(f"/v1/cases/{number}/claim")
        assert taken.status_code == 200 and taken.json()["claimed_by"] == "approver-b"


async def test_a_claim_left_idle_lapses_and_its_holder_can_no_longer_decide(stack: Stack) -> None:
    number = await open_case(stack)
    first = stack.token("approver", "340100", sub="approver-a")
    second = stack.token("approver", "340100", sub="approver-b")
    lapse = timedelta(minutes=stack.settings.claim_lapse_minutes)
    with use_clock(FixedClock(clock.now())) as fixed:
        async with stack.client("approval", first) as a, stack.client("approval", second) as b:
            assert (await a.post(f"/v1/cases/{number}/claim")).status_code == 200
            assert (await b.post(f"/v1/cases/{number}/claim")).status_code == 409

            fixed.advance(lapse + timedelta(minutes=1))  # the holder went home
            shown = (await b.get(f"/v1/cases/{number}")).json()
            assert shown["claimed_by"] is None
            late = await a.post(
                f"/v1/cases/{number}/decision", json={"decision": "approve", "reason": "ok"}
            )
            assert late.status_code == 409 and late.json()["error"]["code"] == "not_claimed"
            taken = await b.post(f"/v1/cases/{number}/claim")
            assert taken.status_code == 200 and taken.json()["claimed_by"] == "approver-b"


def statutory_deadline(case: dict[str, object]) -> DeadlineClock:
    item = get_item(str(case["item_code"]))
    assert item is not None
    return DeadlineClock(date.fromisoformat(str(case["accepted_on"])), item.statutory_days)


def at_ten(day: date) -> datetime:
    return datetime.combine(day, time(10), tzinfo=CHINA_TZ)


async def announcements(stack: Stack, number: str, *, until: int) -> list[str]:
    """The deadline events of one application on tongban.approval.events, once `until` came."""
    kinds = {CaseDeadlineWarning.event_type, CaseOverdue.event_type}

    def of_case(records: list[ConsumerRecord[bytes, bytes]]) -> list[str]:
        return [
            str(header(r, "ce_type"))
            for r in records
            if header(r, "ce_subject") == number and header(r, "ce_type") in kinds
        ]

    records = await read_topic(
        stack.settings,
        topics.APPROVAL_EVENTS,
        until=lambda records: len(of_case(records)) >= until,
    )
    return of_case(records)


async def test_a_case_is_warned_then_overdue_once_each_even_across_a_restart(stack: Stack) -> None:
    number = await open_case(stack)
    approver = stack.token("approver", "340100")
    async with stack.client("approval", approver) as approval:
        case = (await approval.get(f"/v1/cases/{number}")).json()
        assert case["promised_date"] < case["deadline"]  # promised sooner than the law allows
        deadline_clock = statutory_deadline(case)

        with use_clock(FixedClock(at_ten(deadline_clock.warning_on))) as fixed:
            assert await announcements(stack, number, until=1) == [CaseDeadlineWarning.event_type]
            case = (await approval.get(f"/v1/cases/{number}")).json()
            assert case["warning"] and not case["overdue"] and case["warned_at"]

            fixed.advance(at_ten(deadline_clock.deadline) - fixed.now() + timedelta(days=1))
            seen = await announcements(stack, number, until=2)
            assert seen == [CaseDeadlineWarning.event_type, CaseOverdue.event_type]

            # A restarted approval finds its flags where it left them.
            await stack.stop_service("approval")
            await stack.start("approval")
            await asyncio.sleep(2)  # a few scans of the restarted instance
            fixed.advance(timedelta(days=3))
            await asyncio.sleep(1.5)
    assert await announcements(stack, number, until=2) == seen
    assert await written_announcements(stack, number) == sorted(seen)


async def written_announcements(stack: Stack, number: str) -> list[str]:
    """Every deadline event approval wrote for the application (its outbox, sent or not)."""
    runtime = stack.services["approval"].app.state.runtime
    async with runtime.db.transaction() as session:
        written = await session.scalars(
            select(outbox.c.event_type).where(
                outbox.c.subject == number,
                outbox.c.event_type.in_([CaseDeadlineWarning.event_type, CaseOverdue.event_type]),
            )
        )
        return sorted(written)


async def test_two_instances_on_one_database_announce_a_case_once(stack: Stack) -> None:
    number = await open_case(stack)
    runtime = stack.services["approval"].app.state.runtime
    second_instance = Database(runtime.db.url)

    async def scan(db: Database) -> None:
        async with db.transaction() as session:
            await supervision.supervise_deadlines(session, runtime.outbox)

    try:
        with use_clock(FixedClock(clock.now() + timedelta(days=120))):
            await asyncio.gather(scan(runtime.db), scan(second_instance), scan(runtime.db))
    finally:
        await second_instance.dispose()
    assert await written_announcements(stack, number) == sorted(
        [CaseDeadlineWarning.event_type, CaseOverdue.event_type]
    )
