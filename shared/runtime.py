"""The machinery of one service process besides HTTP: database, producer, outbox relay,
consumers and the pruning of the messaging tables, started and stopped together.

The outbox and the relay share one event: a commit that added outbox rows wakes the relay of the
same process, so events move on commit and the relay's poll is only a fallback.

A consumer whose task dies is started again with backoff (`_supervise`); one that keeps dying
is given up and fails the process's liveness.

Shutdown order matters: stop taking work (consumers finish the record in hand and commit), let
the relay publish what those records wrote, flush the producer, then close the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta

from opentelemetry.sdk.trace.export import SpanExporter

from shared.blobstore import BlobStore
from shared.crypto.personal import PersonalData
from shared.db import Database
from shared.messaging.consumer import ConsumerRunner, Handler
from shared.messaging.kafka import client_security, ensure_topics, make_producer
from shared.messaging.outbox import Outbox
from shared.messaging.relay import OutboxRelay, prune
from shared.messaging.signing import EventSigner, EventVerifier, KnownSignatures
from shared.messaging.subscriptions import Subscription
from shared.messaging.topics import dead_letter
from shared.metrics import ServiceMetrics
from shared.settings import ServiceName, Settings, get_settings
from shared.telemetry import Telemetry, mask_personal_data, setup_telemetry

log = logging.getLogger(__name__)

# A consumer run that lasted this long before it died was healthy: its failure counts as the
# first in a row, not as one more.
RESTART_STABLE_SECONDS = 60.0


def build_runtime(
    service: ServiceName,
    settings: Settings | None = None,
    span_exporter: SpanExporter | None = None,
) -> ServiceRuntime:
    """Settings from the environment unless given; spans to `span_exporter` (tests) and OTLP."""
    settings = settings or get_settings()
    settings.fail_closed(f"The {service} service", service)
    settings.check_keys(service)  # a missing key stops the start, naming it
    telemetry = setup_telemetry(
        service,
        otlp_endpoint=settings.otel_exporter_otlp_endpoint,
        exporter=span_exporter,
        sql_spans=settings.telemetry_sql_spans,
    )
    return ServiceRuntime(service, settings, telemetry)


class ServiceRuntime:
    def __init__(self, service: ServiceName, settings: Settings, telemetry: Telemetry) -> None:
        self.service = service
        self.settings = settings
        self.telemetry = telemetry
        # This process's Prometheus metrics, in a registry of its own (GET /metrics).
        self.metrics = ServiceMetrics(service)
        self.db = Database(
            settings.service_database_url(service), pool_size=settings.database_pool_size
        )
        # This process's principal on Kafka (KAFKA_USERNAME...), for every client it opens.
        self.kafka_security = client_security(settings)
        self.producer = make_producer(
            settings.kafka_bootstrap_servers,
            client_id=f"tongban-{service}",
            security=self.kafka_security,
        )
        # Personal data at rest and sealed for other services (shared.crypto.personal); the
        # outbox encrypts its rows with it, and consumers reach it as `ctx.outbox.personal`.
        self.personal = PersonalData(
            settings.key_ring(),
            service=service,
            create_missing_recipients=settings.development,
        )
        self.personal.ensure_own_key()  # its public half is what senders seal for us with
        self.outbox = Outbox(source=f"/tongban/{service}", personal=self.personal)
        # What this process signed or already checked is not checked again (signing.py).
        signatures = KnownSignatures()
        self.relay = OutboxRelay(
            self.db,
            self.producer,
            telemetry,
            wake=self.outbox.committed,
            poll_seconds=settings.outbox_poll_seconds,
            signer=EventSigner(settings.key_ring(), signatures),
            personal=self.personal,
            metrics=self.metrics,
        )
        self.verifier = EventVerifier(settings.key_ring(), signatures)
        self.consumers: list[ConsumerRunner] = []
        self.topics: set[str] = set()
        self._stopping = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self.failed: list[str] = []
        # Consumer supervision (_supervise): each consumer's current run, how often it was
        # restarted, which wait to be restarted, and which were given up (liveness fails).
        self.runs: dict[str, asyncio.Task[None]] = {}
        self.restarts: dict[str, int] = {}
        self.restarting: set[str] = set()
        self.dead: list[str] = []
        self._periodic: list[
            tuple[str, float, Callable[[], Awaitable[object]], asyncio.Event | None]
        ] = []
        # Sent outbox rows and handled inbox ids do not pile up for ever.
        self.every("messaging-prune", settings.prune_interval_seconds, self._prune_once)

    @functools.cached_property
    def blobs(self) -> BlobStore:
        """The store of scans, opened on first use (only intake and approval use it)."""
        url, options = self.settings.blob_store_options()
        return BlobStore.from_url(url, **options)

    def declare_topics(self, topics: Sequence[str]) -> None:
        """Topics this service publishes to or reads; created at start if missing."""
        self.topics.update(topics)

    def add_consumer(
        self,
        name: str,
        topics: Sequence[str],
        handlers: Mapping[str, Handler],
        *,
        group_id: str | None = None,
    ) -> ConsumerRunner:
        self.declare_topics(topics)
        runner = ConsumerRunner(
            name=name,
            topics=topics,
            handlers=handlers,
            db=self.db,
            outbox=self.outbox,
            producer=self.producer,
            telemetry=self.telemetry,
            bootstrap_servers=self.settings.kafka_bootstrap_servers,
            group_id=group_id,
            max_attempts=self.settings.consumer_max_attempts,
            backoff_seconds=self.settings.consumer_backoff_seconds,
            verifier=self.verifier,
            security=self.kafka_security,
            metrics=self.metrics,
            session_timeout_ms=self.settings.kafka_session_timeout_ms,
        )
        self.consumers.append(runner)
        return runner

    def subscribe(self, subscription: Subscription) -> ConsumerRunner:
        """Consume as `subscription` declares (shared.messaging.channels)."""
        return self.add_consumer(
            subscription.name,
            subscription.topics,
            subscription.by_type,
            group_id=subscription.group_id,
        )

    async def start(self) -> None:
        topics = set(self.topics)
        topics |= {dead_letter(t) for runner in self.consumers for t in runner.topics}
        await ensure_topics(
            self.settings.kafka_bootstrap_servers,
            topics,
            partitions=self.settings.kafka_topic_partitions,
            locality_partitions=self.settings.kafka_locality_topic_partitions,
            security=self.kafka_security,
        )
        await self.producer.start()
        self._spawn("outbox-relay", self.relay.run(self._stopping))
        for name, seconds, job, wake in self._periodic:
            self._spawn(name, self._periodically(name, seconds, job, wake))
        for runner in self.consumers:
            await runner.start()
            self._spawn(runner.name, self._supervise(runner))

    async def _supervise(self, runner: ConsumerRunner) -> None:
        """Run a consumer until the service stops. A run that dies (an error the runner does
        not handle, or its task cancelled) is started again with a fresh Kafka consumer, after
        a backoff that doubles with each failure in a row; after `consumer_restart_limit` of
        them the consumer is given up and the service's liveness fails (/healthz), so the
        orchestrator restarts the process. A run that lasted a minute starts the count again."""
        loop = asyncio.get_running_loop()
        failures, reopen = 0, False
        while not self._stopping.is_set():
            began = loop.time()
            problem = await self._run_once(runner, reopen=reopen)
            if problem is None or self._stopping.is_set():
                return
            failures = 1 if loop.time() - began >= RESTART_STABLE_SECONDS else failures + 1
            self.restarts[runner.name] = self.restarts.get(runner.name, 0) + 1
            limit = self.settings.consumer_restart_limit
            if failures > limit:
                self.dead.append(runner.name)
                log.critical(
                    "%s died %d times in a row (last: %s); given up, liveness fails",
                    runner.name,
                    failures,
                    problem,
                )
                return
            delay = min(self.settings.consumer_restart_backoff_seconds * 2 ** (failures - 1), 60.0)
            log.error(
                "%s died (%s); restarting in %.1f s (failure %d of %d)",
                runner.name,
                problem,
                delay,
                failures,
                limit,
            )
            self.restarting.add(runner.name)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=delay)
            reopen = True

    async def _run_once(self, runner: ConsumerRunner, *, reopen: bool) -> str | None:
        """One run of the consumer: None once it returned because the service stops, else what
        ended it."""
        if reopen:
            try:
                await runner.reopen()
            except Exception as exc:
                return mask_personal_data(f"reopening failed: {type(exc).__name__}: {exc}")
        run = asyncio.create_task(
            runner.run(self._stopping), name=f"{self.service}:{runner.name}:run"
        )
        self.runs[runner.name] = run
        self.restarting.discard(runner.name)
        try:
            await asyncio.wait({run})
        except asyncio.CancelledError:  # the service stops and its grace ran out
            run.cancel()
            await asyncio.gather(run, return_exceptions=True)
            raise
        if run.cancelled():
            return "its task was cancelled"
        error = run.exception()
        if error is None:
            return None
        log.error("%s stopped with an error", runner.name, exc_info=error)
        return mask_personal_data(f"{type(error).__name__}: {error}")

    def given_up(self) -> list[str]:
        """The consumers given up after failing to restart: while any, the process is not alive."""
        return list(self.dead)

    def tasks_failed(self) -> list[str]:
        """Background tasks that ended with an error (the outbox relay, a periodic job's loop):
        nothing starts them again, so while any, the process is not alive either."""
        return list(self.failed)

    def every(
        self,
        name: str,
        seconds: float,
        job: Callable[[], Awaitable[object]],
        *,
        wake: asyncio.Event | None = None,
    ) -> None:
        """Run `job` at start (a service restarted more often than the interval still runs it)
        and then every `seconds`, or sooner whenever `wake` is set, until the service stops. A
        failed run is logged; the next one tries again."""
        self._periodic.append((name, seconds, job, wake))

    async def _periodically(
        self,
        name: str,
        seconds: float,
        job: Callable[[], Awaitable[object]],
        wake: asyncio.Event | None,
    ) -> None:
        while not self._stopping.is_set():
            if wake is not None:
                wake.clear()
            try:
                await job()
            except Exception as exc:
                log.warning("%s failed (%s); it runs again in %.0f s", name, exc, seconds)
            await pause(seconds, self._stopping, wake)

    async def _prune_once(self) -> None:
        now = datetime.now(UTC)
        try:
            counts = await prune(
                self.db,
                sent_before=now - timedelta(hours=self.settings.outbox_retention_hours),
                inbox_before=now - timedelta(days=self.settings.inbox_retention_days),
            )
        except Exception as exc:
            # The database may be away for a while; the next run tries again.
            log.warning("pruning the outbox and inbox failed: %s", type(exc).__name__)
            return
        if counts.outbox or counts.inbox:
            log.info(
                "pruned %d sent outbox row(s) and %d inbox row(s)", counts.outbox, counts.inbox
            )

    def _spawn(self, name: str, work: object) -> None:
        task: asyncio.Task[None] = asyncio.create_task(work, name=f"{self.service}:{name}")  # type: ignore[arg-type]

        def report(done: asyncio.Task[None]) -> None:
            if not done.cancelled() and done.exception() is not None:
                self.failed.append(name)
                log.error("%s stopped with an error", name, exc_info=done.exception())

        task.add_done_callback(report)
        self._tasks.append(task)

    async def stop(self, grace_seconds: float = 10.0) -> None:
        self._stopping.set()
        if self._tasks:
            _, pending = await asyncio.wait(self._tasks, timeout=grace_seconds)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        for runner in self.consumers:
            await runner.stop()
        try:
            await self.relay.publish_pending()  # what the last handled records wrote
        except Exception:
            log.warning("outbox left unsent rows at shutdown; they go out at next start")
        await self.producer.stop()
        await self.db.dispose()
        self.telemetry.shutdown()

    async def check_ready(self) -> dict[str, str]:
        """Readiness: the database answers and the broker is known; no background task died."""
        checks: dict[str, str] = {}
        try:
            await asyncio.wait_for(self.db.ping(), timeout=2)
            checks["database"] = "ok"
        except Exception as exc:
            checks["database"] = f"unavailable: {type(exc).__name__}"
        brokers = self.producer.client.cluster.brokers()
        checks["kafka"] = "ok" if brokers else "unavailable"
        down = [*self.failed, *self.dead, *sorted(self.restarting)]
        checks["workers"] = "ok" if not down else "failed: " + ", ".join(down)
        return checks


async def pause(seconds: float, *events: asyncio.Event | None) -> None:
    """Wait until `seconds` passed or any of `events` (None: not waited on) is set."""
    waits = [asyncio.ensure_future(event.wait()) for event in events if event is not None]
    if not waits:
        await asyncio.sleep(seconds)
        return
    try:
        await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiting in waits:
            waiting.cancel()
