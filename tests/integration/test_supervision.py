"""Supervised handling at the competent locality: claims are released or lapse, so a case never
waits on an approver who is not working on it."""

from __future__ import annotations

from datetime import timedelta

import pytest

from shared import clock
from shared.clock import FixedClock, use_clock
from tests.harness import Stack
from tooling.journey import Journey, household_application, sample_applicant

pytestmark = pytest.mark.integration


async def open_case(stack: Stack, sequence: int) -> str:
    urls = {name: service.base_url for name, service in stack.services.items()}
    trip = Journey(stack.settings, urls)
    accepted = await trip.submit(household_application(sample_applicant(sequence=sequence)))
    assert accepted.status_code == 201, accepted.text
    number: str = accepted.json()["application_no"]
    await trip.wait_for_case(number, "340100")
    return number


async def test_a_released_case_can_be_claimed_by_another_approver(stack: Stack) -> None:
    number = await open_case(stack, 501)
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
    number = await open_case(stack, 502)
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
