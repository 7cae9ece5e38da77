"""The portal's notifications against the real PostgreSQL, with a scripted gateway: a fact is
recorded once however often it is told, the sender sends each row once under one reference
through a gateway that fails, refuses or forgets nobody, and reports settle a row once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import delete, select

from services.portal.db import KnownApplicationRow, NotificationRow
from services.portal.notifications import sender as sending
from services.portal.notifications.sender import Sender, reference_of
from services.portal.notifications.store import Known, notify, record_submission
from services.portal.notifications.texts import Fact
from services.portal.residents import load_residents
from shared.db import Database
from shared.db.migrations import upgrade
from shared.settings import with_database
from shared.sms import DeliveryReport, SmsRefused, SmsUnavailable
from tooling.infra import ensure_databases

DATABASE = "tongban_usecases_portal"
DIGEST_KEY = b"usecase-digest-key"
RESIDENTS = load_residents(None, DIGEST_KEY)
LI = RESIDENTS.digest("340104199005170026")  # 13805510001
NUMBER = "TB34010420261203000042"


@pytest.fixture(scope="module")
def database_url(database_server: str) -> str:
    ensure_databases(database_server, [DATABASE], recreate=True)
    url = with_database(database_server, DATABASE)
    upgrade("portal", url)
    return url


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    async with database.transaction() as session:
        await session.execute(delete(NotificationRow))
        await session.execute(delete(KnownApplicationRow))
    yield database
    await database.dispose()


class Gateway:
    """The gateway, scripted: each send takes the next of `script` ("down", "refuse", "ok";
    "ok" once it runs out); what it took, by reference, with how often it was presented."""

    def __init__(self, *script: str) -> None:
        self.script = list(script)
        self.taken: dict[str, tuple[str, str]] = {}
        self.presented: dict[str, int] = {}

    async def send(self, to: str, text: str, *, reference: str) -> str:
        step = self.script.pop(0) if self.script else "ok"
        if step == "down":
            raise SmsUnavailable("answered 503")
        if step == "refuse":
            raise SmsRefused("refused (422)", 422)
        self.presented[reference] = self.presented.get(reference, 0) + 1
        self.taken.setdefault(reference, (to, text))
        return f"SM-{reference}"


async def rows(db: Database) -> list[NotificationRow]:
    async with db.transaction() as session:
        found = await session.scalars(
            select(NotificationRow).order_by(NotificationRow.notification_id)
        )
        return list(found)


async def test_a_fact_told_twice_is_recorded_once_and_repeats_are_their_own(db: Database) -> None:
    await record_submission(db, NUMBER, LI, "GA-HJ-001", "户口迁移证明开具")
    await record_submission(db, NUMBER, LI, "GA-HJ-001", "户口迁移证明开具")  # resubmitted
    to = Known(NUMBER, LI, "GA-HJ-001")
    first = {"materials": "亲属关系证明", "reason": "请提交"}
    async with db.transaction() as session:
        assert await notify(session, to, Fact.SUPPLEMENT_REQUESTED, first, repeat="t1")
        assert not await notify(session, to, Fact.SUPPLEMENT_REQUESTED, first, repeat="t1")
        # A second request of the same case is a fact of its own.
        assert await notify(session, to, Fact.SUPPLEMENT_REQUESTED, first, repeat="t2")
    recorded = [(r.fact, r.repeat, r.status) for r in await rows(db)]
    assert recorded == [
        ("accepted", "", "pending"),
        ("supplement_requested", "t1", "pending"),
        ("supplement_requested", "t2", "pending"),
    ]
    assert all(NUMBER in r.text and r.text.startswith("【通办】") for r in await rows(db))


async def test_the_gateway_down_then_back_sends_each_once_under_its_reference(
    db: Database,
) -> None:
    await record_submission(db, NUMBER, LI, "GA-HJ-001", "户口迁移证明开具")
    gateway = Gateway("down", "down")
    sender = Sender(db, RESIDENTS, gateway)
    assert (await sender.send_due()).outage and (await sender.send_due()).outage
    (row,) = await rows(db)
    assert row.status == "pending" and row.attempts == 2 and gateway.taken == {}
    done = await sender.send_due()
    assert (done.sent, done.outage) == (1, False)
    assert (await sender.send_due()).sent == 0  # nothing left
    (row,) = await rows(db)
    reference = reference_of(row.notification_id)
    assert row.status == "sent" and row.message_id == f"SM-{reference}"
    assert gateway.taken == {reference: ("13805510001", row.text)}
    assert gateway.presented == {reference: 1}


async def test_a_refused_number_and_an_unknown_applicant_are_not_tried_again(
    db: Database,
) -> None:
    await record_submission(db, NUMBER, LI, "GA-HJ-001", "户口迁移证明开具")
    await record_submission(db, "TB-OTHER", "0" * 64, "GA-HJ-001", "户口迁移证明开具")
    gateway = Gateway("refuse")
    sender = Sender(db, RESIDENTS, gateway)
    await sender.send_due()
    await sender.send_due()
    assert [r.status for r in await rows(db)] == ["refused", "unreachable"]
    assert gateway.taken == {}


async def test_the_first_report_settles_a_notification_and_a_repeat_changes_nothing(
    db: Database,
) -> None:
    await record_submission(db, NUMBER, LI, "GA-HJ-001", "户口迁移证明开具")
    await Sender(db, RESIDENTS, Gateway()).send_due()
    (row,) = await rows(db)
    reference = reference_of(row.notification_id)

    async def report(status: str, reference: str = reference) -> None:
        body = DeliveryReport.model_validate(
            {
                "message_id": f"SM-{reference}",
                "reference": reference,
                "status": status,
                "at": datetime.now(UTC),
            }
        )
        async with db.transaction() as session:
            await sending.record_report(session, body)

    await report("delivered")
    await report("delivered")
    await report("failed")  # late and contrary: the first word stands
    await report("failed", reference="5e0a5372-b835-466d-8609-cb059422c44a")  # a sign-in's
    (row,) = await rows(db)
    assert row.status == "delivered" and row.reported_at is not None
