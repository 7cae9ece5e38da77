"""Delivery's hand-over at the window, called as its endpoint calls it: the certificate goes
to the applicant or the recorded agent whose ID number the clerk checked, once, at the window
it waits at; refusals are on record and a window that keeps guessing is stopped."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from services.delivery.db import FailedHandoverRow, PrintJobRow
from services.delivery.usecases.handover import (
    HandOver,
    TooManyFailedHandovers,
    attempt_handover,
)
from services.delivery.usecases.print_jobs import PrintJob, queue_certificate
from shared.auth import Principal
from shared.errors import Conflict, NotFound
from shared.messaging import events
from shared.telemetry import Telemetry
from shared.vocabulary import PrintJobStatus
from tests import factories
from tests.usecases.conftest import DIGEST_KEY, Unit

READY = events.CertificateReadyForPickup.event_type
DELIVERED = events.CertificateDelivered.event_type
MAX_FAILURES = 3


class Counter:
    """The window and its clerk; the certificate waiting there for a known applicant."""

    def __init__(self, delivery: Unit, telemetry: Telemetry) -> None:
        self.delivery = delivery
        self.telemetry = telemetry
        self.clerk = factories.clerk("341200", window=factories.unique() % 90 + 10)

    async def queue(self, agent_id_number: str | None = None) -> tuple[str, str]:
        """A certificate queued at this window: (application number, the holder's ID number)."""
        holder = factories.resident_id()
        assert self.clerk.window_id is not None
        approved = factories.approved(
            holder, DIGEST_KEY, window_id=self.clerk.window_id, agent_id_number=agent_id_number
        )
        async with self.delivery.transaction() as session:
            await queue_certificate(session, self.delivery.outbox, approved)
        return approved.application_no, holder

    async def hand_over(
        self, application_no: str, id_number: str, clerk: Principal | None = None
    ) -> PrintJob:
        return await attempt_handover(
            self.delivery.db,
            self.delivery.outbox,
            HandOver(application_no, id_number, clerk or self.clerk),
            digest_key=DIGEST_KEY,
            telemetry=self.telemetry,
            max_failures=MAX_FAILURES,
            minutes=15,
        )

    async def refusals(self) -> int:
        return int(
            await self.delivery.connection.scalar(
                select(func.count())
                .select_from(FailedHandoverRow)
                .where(FailedHandoverRow.window_id == self.clerk.window_id)
            )
            or 0
        )


@pytest.fixture
def counter(delivery: Unit, telemetry: Telemetry) -> Counter:
    return Counter(delivery, telemetry)


async def test_the_applicant_whose_id_was_checked_collects_the_certificate(
    delivery: Unit, counter: Counter
) -> None:
    application_no, holder = await counter.queue()

    job = await counter.hand_over(application_no, holder)

    assert (job.status, job.collected_by) == (PrintJobStatus.DELIVERED, "applicant")
    assert await delivery.event_types(application_no) == [READY, DELIVERED]


async def test_the_recorded_agent_may_collect_instead(counter: Counter) -> None:
    agent = factories.resident_id()
    application_no, _ = await counter.queue(agent_id_number=agent)

    job = await counter.hand_over(application_no, agent)

    assert job.collected_by == "agent"


async def test_someone_else_is_refused_and_the_refusal_is_on_record(
    delivery: Unit, counter: Counter
) -> None:
    application_no, _ = await counter.queue()

    with pytest.raises(Conflict) as refused:
        await counter.hand_over(application_no, factories.resident_id())

    assert refused.value.code == "recipient_mismatch"
    assert await counter.refusals() == 1
    async with delivery.transaction() as session:
        job = await session.scalar(
            select(PrintJobRow).where(PrintJobRow.application_no == application_no)
        )
    assert job is not None and job.status == PrintJobStatus.WAITING
    assert await delivery.event_types(application_no) == [READY]


async def test_another_window_cannot_hand_over_what_waits_elsewhere(counter: Counter) -> None:
    application_no, holder = await counter.queue()
    elsewhere = factories.clerk("341200", window=1)
    with pytest.raises(NotFound) as refused:
        await counter.hand_over(application_no, holder, clerk=elsewhere)
    assert refused.value.code == "not_in_print_queue"


async def test_a_certificate_is_handed_over_once(counter: Counter) -> None:
    application_no, holder = await counter.queue()
    await counter.hand_over(application_no, holder)
    with pytest.raises(Conflict) as refused:
        await counter.hand_over(application_no, holder)
    assert refused.value.code == "already_delivered"
    # Not a guess: it does not count towards the window's limit.
    assert await counter.refusals() == 0


async def test_a_window_that_keeps_guessing_is_stopped_even_with_the_right_id(
    counter: Counter,
) -> None:
    application_no, holder = await counter.queue()
    for _ in range(MAX_FAILURES):
        with pytest.raises(Conflict):
            await counter.hand_over(application_no, factories.resident_id())

    with pytest.raises(TooManyFailedHandovers) as stopped:
        await counter.hand_over(application_no, holder)

    assert (stopped.value.status_code, stopped.value.code) == (429, "too_many_failed_handovers")
    assert await counter.refusals() == MAX_FAILURES
