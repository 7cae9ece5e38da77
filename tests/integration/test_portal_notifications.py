"""Notifications by SMS (全程网办, 短信通知) against the real stack: the portal reads approval's
and delivery's facts from Kafka as its own principal and texts the applicant once per fact,
with the application's number, in Chinese. Read back from the SMS gateway simulator's process.

- an online application: accepted, supplement requested, deferred material due, approved,
  posted, delivered; the supplement request read again (the same record, and the same fact
  under a new event id) sends nothing;
- a registered resident's window application, rejected while the gateway fails and then
  answers too late: one text with the rejection notice's number, sent again only under its
  own reference;
- another one approved for pickup: where to pick it up, then delivered.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from sqlalchemy import func, select

from services.portal.consumers import NAME as PORTAL_CONSUMER
from services.portal.db import NotificationRow
from services.portal.main import create_app as create_portal
from shared.db import Database
from shared.db.messaging_tables import inbox
from shared.db.migrations import upgrade_async
from shared.messaging import events, topics
from shared.messaging.envelope import Envelope
from shared.settings import with_database
from tests.harness import RunningService, Stack, header, read_topic
from tests.integration.test_portal_web import csrf_of, signed_in
from tooling.infra import Infrastructure, ensure_databases
from tooling.journey import HOUSEHOLD_REGISTER_SCAN, ID_CARD_SCAN, household_application, poll_until
from tooling.sms_gateway.control import SmsGatewayControl

pytestmark = pytest.mark.integration

DATABASE = "tongban_test_portal_notify"
# Residents of the built-in registry (services/portal/data/residents.csv).
LI = ("340104199005170026", "李娜", "13805510001")
CHEN = ("341200198503080011", "陈静", "13905580000")
WINDOW, WINDOW_LOCALITY = "W340104-01", "340104"
# The competent locality of GA-HJ-001 for applicants of 340104 and 340100: the city.
CITY = "340100"
# 陈静's household is in 阜阳 (341200): she applies at its window, its city decides.
FUYANG_WINDOW, FUYANG = "W341200-01", "341200"


@pytest.fixture(scope="module")
async def portal(
    stack: Stack, infrastructure: Infrastructure, sms_gateway: SmsGatewayControl
) -> AsyncIterator[RunningService]:
    database = with_database(stack.settings.database_url, DATABASE)
    await asyncio.to_thread(
        ensure_databases, stack.settings.database_url, [DATABASE], recreate=True
    )
    await upgrade_async("portal", database)
    settings = stack.settings.model_copy(
        update={
            "intake_url": stack.services["intake"].base_url,
            "delivery_url": stack.services["delivery"].base_url,
            "portal_database_url": database,
            # A send whose answer is late is given up quickly (and sent again).
            "sms_timeout_seconds": 1.0,
            # Its own Kafka principal, allowed what the ACL table grants it, as in `make run`.
            **infrastructure.kafka_settings("portal"),
        }
    )
    # A portal's SMS references are its own database's notification ids, which start again with
    # each module's fresh database, and the session's simulator keeps a message per reference:
    # it starts and ends each module empty (else a text would count as sent before).
    await sms_gateway.reset()
    await stack.start("portal", lambda _: create_portal(settings))
    yield stack.services["portal"]
    await stack.stop_service("portal")
    await sms_gateway.reset()
    # The session's simulator as other modules expect it: nothing sent to their residents.
    if stack.sms is not None:
        await stack.sms.reset()


@pytest.fixture
async def db(stack: Stack, portal: RunningService) -> AsyncIterator[Database]:
    """The portal's own database, to see what it recorded."""
    database = Database(with_database(stack.settings.database_url, DATABASE))
    yield database
    await database.dispose()


async def texts_of(sms: SmsGatewayControl, phone: str, number: str) -> list[dict[str, Any]]:
    return [m for m in await sms.messages(to=phone) if number in m["text"]]


async def wait_texts(
    sms: SmsGatewayControl, phone: str, number: str, count: int, within: float = 30
) -> list[dict[str, Any]]:
    async def enough() -> list[dict[str, Any]] | None:
        found = await texts_of(sms, phone, number)
        return found if len(found) >= count else None

    return await poll_until(enough, within=within, failure=f"{count} text(s) about {number}")


async def wait_handled(db: Database, *event_ids: str) -> None:
    async def handled() -> bool | None:
        async with db.transaction() as session:
            found = set(
                await session.scalars(
                    select(inbox.c.event_id).where(
                        inbox.c.consumer == PORTAL_CONSUMER, inbox.c.event_id.in_(event_ids)
                    )
                )
            )
        return True if found == set(event_ids) else None

    await poll_until(handled, within=30, failure="the portal never handled the events")


async def statuses(db: Database, number: str) -> dict[str, str]:
    async with db.transaction() as session:
        rows = await session.execute(
            select(NotificationRow.fact, NotificationRow.status).where(
                NotificationRow.application_no == number
            )
        )
        return {fact: status for fact, status in rows.tuples()}


async def all_sent(db: Database) -> None:
    """Nothing pending (the texts of facts other tests of the session caused included)."""

    async def idle() -> bool | None:
        async with db.transaction() as session:
            pending = await session.scalar(
                select(func.count()).where(NotificationRow.status == "pending")
            )
        return True if pending == 0 else None

    await poll_until(idle, within=30, failure="notifications still pending")


def number_of(answer: httpx.Response) -> str:
    assert answer.status_code == 303, answer.text
    return answer.headers["location"].rsplit("/", 1)[1]


async def test_an_online_application_texts_each_fact_once_in_chinese(
    stack: Stack,
    portal: RunningService,
    db: Database,
    sms_gateway: SmsGatewayControl,
    producer: AIOKafkaProducer,
) -> None:
    li = await signed_in(portal, sms_gateway, LI)
    csrf = csrf_of((await li.get("/guides/GA-HJ-001/apply")).text)
    # The ID card's scan, a commitment for M03, the register copy deferred (容缺); by post.
    number = number_of(
        await li.post(
            "/guides/GA-HJ-001/apply",
            data={
                "csrf": csrf,
                "key": "k-notify",
                "window_id": WINDOW,
                "commit_M03": "yes",
                "delivery_method": "postal",
                "recipient": LI[1],
                "address_phone": LI[2],
                "address_locality": WINDOW_LOCALITY,
                "address_line": "长江中路 100 号",
            },
            files={"file_M01": ("id-card.pdf", ID_CARD_SCAN, "application/pdf")},
        )
    )
    (accepted,) = await wait_texts(sms_gateway, LI[2], number, 1)
    assert "已受理" in accepted["text"] and "户口迁移证明开具" in accepted["text"]
    # Intake says it was handed in online, on its event and in the timeline.
    records = await read_topic(
        stack.settings,
        topics.INTAKE_EVENTS,
        until=lambda found: any(is_of(r, number, events.ApplicationAccepted) for r in found),
    )
    (announced,) = [r for r in records if is_of(r, number, events.ApplicationAccepted)]
    assert (
        Envelope.from_kafka(announced.key, announced.value, announced.headers).data["channel"]
        == "online"
    )
    assert f"网上申报，已由 {WINDOW} 窗口受理" in (await li.get(f"/applications/{number}")).text

    # 补正: the approver asks for the kinship proof the applicant had committed to.
    approver = stack.journey(WINDOW, WINDOW_LOCALITY)
    await approver.wait_for_case(number, CITY)
    await approver.claim(number, CITY)
    await approver.request_supplement(number, CITY, ["M03"], "请提交亲属关系证明")
    texts = await wait_texts(sms_gateway, LI[2], number, 2)
    assert "亲属关系证明" in texts[1]["text"] and "请提交" in texts[1]["text"]

    # The request read again: the same record, and the same fact under a new event id.
    records = await read_topic(
        stack.settings,
        topics.APPROVAL_EVENTS,
        until=lambda found: any(is_request(r, number) for r in found),
    )
    record = next(r for r in records if is_request(r, number))
    await producer.send_and_wait(
        record.topic, value=record.value, key=record.key, headers=list(record.headers)
    )
    original = Envelope.from_kafka(record.key, record.value, list(record.headers))
    copy, _ = await stack.publish(producer, original.payload(), topics.APPROVAL_EVENTS)
    # 容缺: the reminder approval sends the working day before the register copy is due.
    due_on = date.today() + timedelta(days=2)
    reminder, _ = await stack.publish(
        producer,
        events.CaseDeferredReminder(
            application_no=number,
            locality=CITY,
            materials=["M02"],
            due_on=due_on,
            reminded_at=datetime.now(UTC),
        ),
        topics.APPROVAL_EVENTS,
    )
    await wait_handled(db, copy.id, reminder.id)
    texts = await wait_texts(sms_gateway, LI[2], number, 3)
    assert "居民户口簿复印件" in texts[2]["text"] and due_on.isoformat() in texts[2]["text"]

    # The proof handed in online; approved; posted; delivered by the carrier.
    page = await li.get(f"/applications/{number}")
    handed = await li.post(
        f"/applications/{number}/supplements",
        data={"csrf": csrf_of(page.text)},
        files={"file_M03": ("kinship.pdf", HOUSEHOLD_REGISTER_SCAN, "application/pdf")},
    )
    assert handed.status_code == 303, handed.text
    await approver.wait_for_status(number, "supplement_submitted")
    # Intake says so first; the approver acts once approval resumed the review too.
    await approver.wait_for_case_status(number, CITY, "in_review")
    decided = await approver.approve(number, CITY)
    texts = await wait_texts(sms_gateway, LI[2], number, 6, within=45)
    await asyncio.sleep(1)  # anything more would come now
    texts = await texts_of(sms_gateway, LI[2], number)
    facts = await statuses(db, number)
    assert sorted(facts) == sorted(
        ["accepted", "supplement_requested", "deferred_due", "approved", "dispatched", "delivered"]
    )
    assert len(texts) == 6 and len({t["reference"] for t in texts}) == 6
    assert all(t["requests"] == 1 for t in texts)
    approved, posted, delivered = texts[3:]
    assert "准予许可" in approved["text"] and decided["certificate_no"] in approved["text"]
    assert "已寄出" in posted["text"] and re.search(r"运单号 \S+", posted["text"])
    assert "已送达" in delivered["text"]
    for text in texts:
        assert text["text"].startswith("【通办】") and number in text["text"]
        assert LI[0] not in text["text"] and LI[2] not in text["text"]

    # The gateway's signed delivery reports settle each notification.
    async def reported() -> bool | None:
        return True if set((await statuses(db, number)).values()) == {"delivered"} else None

    await poll_until(reported, within=15, failure="not every notification was reported")
    await li.aclose()


def is_request(record: Any, number: str) -> bool:
    return is_of(record, number, events.CaseSupplementRequested)


def is_of(record: Any, number: str, event: type[events.EventPayload]) -> bool:
    return record.key == number.encode() and header(record, "ce_type") == event.event_type


async def decide(stack: Stack, number: str, body: dict[str, str]) -> dict[str, Any]:
    token = stack.journey(FUYANG_WINDOW, FUYANG).approver_token(FUYANG)
    async with stack.client("approval", token) as approval:
        assert (await approval.post(f"/v1/cases/{number}/claim")).status_code == 200
        answer = await approval.post(f"/v1/cases/{number}/decision", json=body)
        assert answer.status_code == 200, answer.text
        decided: dict[str, Any] = answer.json()
        return decided


async def window_application(stack: Stack, key: str) -> str:
    """陈静 applies at a window (a registered resident: the decision tells the portal whose)."""
    applicant = {
        "kind": "person",
        "name": CHEN[1],
        "id_type": "resident_id",
        "id_number": CHEN[0],
        "phone": CHEN[2],
        "locality": FUYANG,
    }
    window = stack.journey(FUYANG_WINDOW, FUYANG)
    answer = await window.submit(household_application(applicant), key)
    assert answer.status_code == 201, answer.text
    number: str = answer.json()["application_no"]
    await window.wait_for_case(number, FUYANG)
    return number


async def test_a_rejection_is_texted_once_with_its_notice_number_through_a_failing_gateway(
    stack: Stack, portal: RunningService, db: Database, sms_gateway: SmsGatewayControl
) -> None:
    number = await window_application(stack, f"notify-reject-{uuid.uuid4()}")
    await all_sent(db)
    # Down for two sends, then it takes the third but answers too late; reports come late
    # enough that the sender has sent again (under the same reference) by then.
    before = await sms_gateway.state()
    await sms_gateway.set_reports(delay_seconds=6)
    await sms_gateway.fail(2)
    await sms_gateway.slow(1, 1.5)
    try:
        await decide(stack, number, {"decision": "reject", "reason": "申请人不符合迁入条件"})
        (text,) = await wait_texts(sms_gateway, CHEN[2], number, 1)

        async def sent_again() -> bool | None:
            settled = (await statuses(db, number)).get("rejected") in ("sent", "delivered")
            return True if settled else None

        await poll_until(sent_again, within=20, failure="the rejection was not marked sent")
    finally:
        await sms_gateway.set_reports(delay_seconds=before["report_delay_seconds"])
    (text,) = await texts_of(sms_gateway, CHEN[2], number)
    assert text["requests"] == 2  # presented again after the lost answer, sent once
    records = await read_topic(
        stack.settings,
        topics.APPROVAL_EVENTS,
        until=lambda found: any(is_notice(r, number) for r in found),
    )
    notice = next(r for r in records if is_notice(r, number))
    notice_no = Envelope.from_kafka(notice.key, notice.value, list(notice.headers)).data[
        "notice_no"
    ]
    assert "未予许可" in text["text"] and notice_no in text["text"]
    assert (await sms_gateway.state())["failing"] == 0


def is_notice(record: Any, number: str) -> bool:
    return is_of(record, number, events.RejectionNoticeIssued)


async def test_a_result_ready_at_a_window_says_which_then_that_it_was_handed_over(
    stack: Stack, portal: RunningService, db: Database, sms_gateway: SmsGatewayControl
) -> None:
    number = await window_application(stack, f"notify-pickup-{uuid.uuid4()}")
    await stack.journey(FUYANG_WINDOW, FUYANG).approve(number, FUYANG)
    approved, ready = await wait_texts(sms_gateway, CHEN[2], number, 2)
    assert "准予许可" in approved["text"]
    assert "综合窗口1" in ready["text"] and "领取" in ready["text"]
    handed = await stack.journey(FUYANG_WINDOW, FUYANG).hand_over(number, CHEN[0])
    assert handed.status_code == 200, handed.text
    texts = await wait_texts(sms_gateway, CHEN[2], number, 3)
    assert "已送达" in texts[2]["text"]
    assert sorted(await statuses(db, number)) == ["approved", "delivered", "ready_for_pickup"]
