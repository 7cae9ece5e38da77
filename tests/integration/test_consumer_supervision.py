"""A consumer task that dies is restarted, and the service keeps consuming without losing or
repeating a record; one that keeps dying is given up and the service's liveness fails, so the
orchestrator restarts the process. A service of its own on the real broker and database (a
runtime like every service's, one consumer on a topic of the test)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from shared.db.migrations import upgrade_async
from shared.messaging import events
from shared.messaging.consumer import ConsumerRunner, EventContext, Handler
from shared.messaging.envelope import Envelope
from shared.runtime import ServiceRuntime, build_runtime
from shared.settings import with_database
from shared.webapp import create_service_app
from tests.harness import RunningService, Stack, eventually, serve
from tests.integration.test_reliability import new_application_no, routed_event
from tooling.infra import Infrastructure, ensure_databases_async

pytestmark = pytest.mark.integration


class Fatal(BaseException):
    """What no retry or dead letter handles: the consumer's task dies of it."""


@dataclass
class Supervised:
    runtime: ServiceRuntime
    runner: ConsumerRunner
    service: RunningService
    topic: str

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.service.base_url, timeout=10)


Start = Callable[..., Awaitable[Supervised]]


@pytest.fixture
async def supervised(stack: Stack, infrastructure: Infrastructure) -> AsyncIterator[Start]:
    await ensure_databases_async(
        infrastructure.database_url, ["tongban_test_supervision"], recreate=True
    )
    url = with_database(infrastructure.database_url, "tongban_test_supervision")
    await upgrade_async("routing", url)
    started: list[Supervised] = []

    async def start(handler: Handler, *, relay_dies: bool = False) -> Supervised:
        settings = stack.settings.model_copy(
            update={
                "routing_database_url": url,
                "consumer_restart_limit": 2,
                "consumer_restart_backoff_seconds": 0.05,
            }
        )
        runtime = build_runtime("routing", settings, stack.spans)
        topic = f"tongban.test.supervision.{uuid.uuid4().hex[:8]}"
        runner = runtime.add_consumer(
            f"test-supervision-{uuid.uuid4().hex[:8]}",
            [topic],
            {events.ApplicationRouted.event_type: handler},
        )
        runner.verifier = None  # a topic of the test: no channel says who signs it
        if relay_dies:

            async def dying_relay(stopping: object) -> None:
                raise Fatal("the relay's loop itself failed")

            runtime.relay.run = dying_relay  # type: ignore[method-assign]
        app = create_service_app(runtime, [], title="supervision test", description="")
        service = await serve("supervision", lambda _: app)
        running = Supervised(runtime, runner, service, topic)
        started.append(running)
        return running

    yield start
    for running in started:
        await running.service.stop()


async def send(producer: AIOKafkaProducer, topic: str, application_no: str) -> None:
    envelope = Envelope.new(routed_event(application_no), source="/tests")
    key, value, headers = envelope.to_kafka()
    await producer.send_and_wait(topic, value=value, key=key, headers=headers)


async def test_a_consumer_that_dies_is_restarted_and_keeps_consuming(
    supervised: Start, producer: AIOKafkaProducer
) -> None:
    first, second, third = (new_application_no() for _ in range(3))
    handled: list[str] = []
    runs: list[Supervised] = []

    async def handler(event: events.ApplicationRouted, ctx: EventContext) -> None:
        # Every attempt of the first run dies on `first`; the restarted run gets through.
        if event.application_no == first and not runs[0].runtime.restarts:
            raise Fatal("the handler hit something no retry handles")
        handled.append(event.application_no)

    running = await supervised(handler)
    runs.append(running)
    name = running.runner.name
    await send(producer, running.topic, first)
    await send(producer, running.topic, second)

    async def both_handled() -> bool:
        # Each once, in whatever order their partitions came.
        return sorted(handled) == sorted([first, second])

    # The record the dead run did not finish came again to the restarted one, once.
    await eventually(both_handled)
    assert running.runtime.restarts[name] == 1

    # Killed from outside (its task cancelled): restarted as well, and still consuming.
    running.runtime.runs[name].cancel()

    async def restarted() -> bool:
        run = running.runtime.runs[name]
        return running.runtime.restarts[name] == 2 and not run.done()

    await eventually(restarted)
    await send(producer, running.topic, third)

    async def third_handled() -> bool:
        return third in handled

    await eventually(third_handled)
    assert len(handled) == 3 and handled[-1] == third
    async with running.client() as http:
        assert (await http.get("/healthz")).status_code == 200
        ready = await http.get("/readyz")
        assert ready.status_code == 200, ready.text


async def test_liveness_fails_when_a_consumer_keeps_dying(
    supervised: Start, producer: AIOKafkaProducer
) -> None:
    async def handler(event: events.ApplicationRouted, ctx: EventContext) -> None:
        raise Fatal("this record kills every run that reads it")

    running = await supervised(handler)
    async with running.client() as http:
        assert (await http.get("/healthz")).status_code == 200
        await send(producer, running.topic, new_application_no())

        async def dead() -> httpx.Response | None:
            answer = await http.get("/healthz")
            return answer if answer.status_code == 503 else None

        answer = await eventually(dead)
        assert isinstance(answer, httpx.Response)
        assert answer.json()["consumers_given_up"] == [running.runner.name]
        # Started again (with a fresh Kafka consumer) as often as the limit allows, then given up.
        assert running.runtime.restarts[running.runner.name] == 3
        ready = await http.get("/readyz")
        assert ready.status_code == 503 and running.runner.name in ready.json()["checks"]["workers"]


async def test_liveness_fails_when_the_outbox_relay_died(supervised: Start) -> None:
    async def handler(event: events.ApplicationRouted, ctx: EventContext) -> None:
        return None

    running = await supervised(handler, relay_dies=True)
    async with running.client() as http:

        async def dead() -> httpx.Response | None:
            answer = await http.get("/healthz")
            return answer if answer.status_code == 503 else None

        answer = await eventually(dead)
        assert isinstance(answer, httpx.Response)
        assert answer.json()["tasks_failed"] == ["outbox-relay"]
        assert answer.json()["consumers_given_up"] == []
        ready = await http.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["checks"]["workers"] == "failed: outbox-relay"
