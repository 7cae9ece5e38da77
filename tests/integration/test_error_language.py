"""Errors are answered in Chinese unless the request asks for English; their codes and fields are
the same in both, for programs; what a consumer writes for operators stays English."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from shared.db import Database
from shared.db.migrations import upgrade_async
from shared.errors import Conflict
from shared.i18n import _
from shared.messaging import events, topics
from shared.messaging.consumer import ConsumerRunner, EventContext
from shared.messaging.envelope import Envelope
from shared.messaging.kafka import client_security, ensure_topics
from shared.messaging.outbox import Outbox
from shared.settings import with_database
from shared.telemetry import setup_telemetry
from tests.harness import Stack, header, read_topic
from tests.integration.test_reliability import new_application_no, routed_event, send
from tooling.infra import Infrastructure, ensure_databases_async

pytestmark = pytest.mark.integration

ENGLISH = {"Accept-Language": "en-US,en;q=0.9"}


async def in_both_languages(
    client: httpx.AsyncClient, method: str, url: str, **kwargs: Any
) -> tuple[httpx.Response, httpx.Response]:
    """The same request as a Chinese browser (no preference) and as an English one asks it."""
    chinese = await client.request(method, url, **kwargs)
    headers = {**kwargs.pop("headers", {}), **ENGLISH}
    english = await client.request(method, url, headers=headers, **kwargs)
    assert chinese.headers["content-language"] == "zh-CN"
    assert english.headers["content-language"] == "en"
    return chinese, english


def error(response: httpx.Response) -> dict[str, Any]:
    body: dict[str, Any] = response.json()["error"]
    return body


def same_but_words(chinese: httpx.Response, english: httpx.Response) -> None:
    """Status, code and details (but the problems' words) are one answer in either language."""
    assert chinese.status_code == english.status_code
    assert error(chinese)["code"] == error(english)["code"]
    assert error(chinese)["message"] != error(english)["message"]


async def test_an_unknown_case_is_answered_in_chinese_and_in_english_on_request(
    stack: Stack,
) -> None:
    approver = stack.token("approver", "340100")
    async with stack.client("approval", approver) as approval:
        chinese, english = await in_both_languages(approval, "GET", "/v1/cases/TBNOSUCHCASE01")
    assert chinese.status_code == 404
    assert error(chinese)["code"] == "case_not_found"
    assert error(chinese)["message"] == "本地区没有办件 TBNOSUCHCASE01。"
    assert error(english)["message"] == "No case TBNOSUCHCASE01 in your locality."
    same_but_words(chinese, english)


async def test_a_validation_problem_is_told_in_chinese_with_its_field_and_code_unchanged(
    stack: Stack,
) -> None:
    approver = stack.token("approver", "340100")
    body = {"decision": "maybe", "reason": "理\x00由", "extra": 1}
    async with stack.client("approval", approver) as approval:
        chinese, english = await in_both_languages(
            approval, "POST", "/v1/cases/TBNOSUCHCASE01/decision", json=body
        )
    assert chinese.status_code == 422
    assert error(chinese)["code"] == "invalid_request"
    assert error(chinese)["message"] == "请求中有字段填写不正确。"
    assert error(english)["message"] == "The request has invalid fields."
    problems = {p["field"]: p for p in error(chinese)["details"]}
    assert problems["decision"]["code"] == "enum"
    assert problems["decision"]["message"].startswith("应为以下取值之一：")
    assert "'approve'" in problems["decision"]["message"]
    assert problems["extra"] == {
        "field": "extra",
        "code": "extra_forbidden",
        "message": "不接受此字段。",
    }
    # A validator's own refusal (shared.bounds), in its catalog's words.
    assert problems["reason"] == {
        "field": "reason",
        "code": "value_error",
        "message": "不得包含控制字符（如 NUL）",
    }
    # English keeps pydantic's own words; the fields and codes are the same.
    assert [(p["field"], p["code"]) for p in error(english)["details"]] == [
        (p["field"], p["code"]) for p in error(chinese)["details"]
    ]
    assert "Extra inputs are not permitted" in [p["message"] for p in error(english)["details"]]


async def test_a_missing_token_is_refused_in_the_language_asked_for(stack: Stack) -> None:
    async with stack.client("delivery") as delivery:
        chinese, english = await in_both_languages(delivery, "GET", "/v1/print-queue")
    assert chinese.status_code == 401
    assert error(chinese)["code"] == "unauthorized"
    assert error(chinese)["message"] == "请求未携带访问令牌，请先登录。"
    assert error(english)["message"] == "A bearer token is required."
    same_but_words(chinese, english)


async def test_delivery_refuses_an_application_not_in_its_print_queue_in_either_language(
    stack: Stack,
) -> None:
    # A window of its own: each refusal counts towards the window's hand-over limit.
    clerk = stack.token("window_clerk", "341200", "W341200-08")
    body = {"recipient_id_number": "340104199005170018"}
    async with stack.client("delivery", clerk) as delivery:
        chinese, english = await in_both_languages(
            delivery, "POST", "/v1/deliveries/TBNOSUCHJOB001/handover", json=body
        )
    assert chinese.status_code == 404
    assert error(chinese)["code"] == "not_in_print_queue"
    assert error(chinese)["message"] == "办件 TBNOSUCHJOB001 不在本窗口待领取。"
    assert error(english)["message"] == "TBNOSUCHJOB001 is not waiting at your window."


async def test_routing_tells_an_unknown_agreement_and_an_unknown_locality_in_chinese(
    stack: Stack,
) -> None:
    admin = stack.token("admin", "340100")
    clerk = stack.token("window_clerk", "341200", "W341200-01")
    async with stack.client("routing", admin) as routing:
        chinese, english = await in_both_languages(
            routing, "DELETE", f"/v1/agreements/{uuid.uuid4()}"
        )
    assert chinese.status_code == 404
    assert error(chinese)["code"] == "agreement_not_found"
    assert (error(chinese)["message"], error(english)["message"]) == (
        "没有该授权协议。",
        "No such agreement.",
    )

    query = {"item_code": "GA-HJ-001", "applicant_locality": "349999"}
    async with stack.client("routing", clerk) as routing:
        chinese, english = await in_both_languages(
            routing, "POST", "/v1/jurisdiction/resolve", json=query
        )
    assert chinese.status_code == 422
    assert error(chinese)["code"] == error(english)["code"] == "unknown_locality"
    assert error(chinese)["details"] == [
        {
            "field": "applicant_locality",
            "code": "unknown_locality",
            "message": "未知的行政区划代码 349999。",
        }
    ]
    assert error(english)["details"][0]["message"] == "Unknown locality code 349999."


async def test_the_frameworks_own_not_found_is_chinese_too(stack: Stack) -> None:
    async with stack.client("routing") as routing:
        chinese, english = await in_both_languages(routing, "GET", "/v1/no-such-thing")
    assert chinese.status_code == 404
    assert error(chinese)["code"] == error(english)["code"] == "not_found"
    assert error(chinese)["message"] == "该地址不存在。"
    assert error(english)["message"] == "There is nothing at this address."


async def test_a_consumers_refusal_is_dead_lettered_in_english_for_operators(
    stack: Stack,
    infrastructure: Infrastructure,
    producer: AIOKafkaProducer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A process whose own language is Chinese: its consumers still write English.
    monkeypatch.setenv("TONGBAN_LANG", "zh_CN")
    await ensure_databases_async(
        infrastructure.database_url, ["tongban_test_language"], recreate=True
    )
    url = with_database(infrastructure.database_url, "tongban_test_language")
    await upgrade_async("routing", url)
    db = Database(url)
    topic = f"tongban.test.{uuid.uuid4().hex[:8]}"
    await ensure_topics(
        stack.settings.kafka_bootstrap_servers,
        [topic, topics.dead_letter(topic)],
        partitions=1,
        security=client_security(stack.settings),
    )
    refused = new_application_no()

    async def handler(event: events.ApplicationRouted, ctx: EventContext) -> None:
        # A use case shared with the API refuses in `_()`.
        raise Conflict("case_claimed", _("Another approver holds this case."))

    runner = ConsumerRunner(
        name="test-language",
        topics=[topic],
        handlers={events.ApplicationRouted.event_type: handler},
        db=db,
        outbox=Outbox("/tests"),
        producer=producer,
        telemetry=setup_telemetry("language-test", exporter=stack.spans),
        bootstrap_servers=stack.settings.kafka_bootstrap_servers,
        security=client_security(stack.settings),
        max_attempts=1,
        backoff_seconds=0.01,
    )
    await send(producer, None, topic, Envelope.new(routed_event(refused), source="/tests"))
    stopping = asyncio.Event()
    await runner.start()
    task = asyncio.create_task(runner.run(stopping))
    try:
        dead = await read_topic(
            stack.settings, topics.dead_letter(topic), until=lambda records: len(records) >= 1
        )
    finally:
        stopping.set()
        await task
        await runner.stop()
        await db.dispose()
    assert header(dead[0], "dlq.error.type") == "Conflict"
    assert header(dead[0], "dlq.error.message") == "Another approver holds this case."
    # The process's own language really is Chinese outside the consumer.
    assert _("Another approver holds this case.") == "该办件已由其他审批人员认领。"
