"""Prometheus metrics of one service process, served at GET /metrics.

Each service runtime has its own `CollectorRegistry` (never the library's global one): the tests
run every service in one process, and each app must show only its own numbers.

Names follow Prometheus' conventions (`tongban_` prefix, base units, `_total` on counters,
`_seconds` on durations). No label ever carries personal data or an application number: HTTP
requests are labelled with the route's template (`/v1/cases/{application_no}`), never the path,
and every label takes its values from a small, fixed set (routes, topics, localities, statuses,
error types).

What lives in a database (the outbox's backlog, approval's cases) is read when Prometheus
scrapes, not on a timer: a scrape shows the values of that moment. The reads are cached for
`REFRESH_SECONDS`, so several scrapers at once cost one query.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from aiokafka import TopicPartition
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import generate_latest

log = logging.getLogger(__name__)

PREFIX = "tongban"
# A scrape within this many seconds of the last refresh reuses its values.
REFRESH_SECONDS = 1.0
# How often an idle consumer recomputes its lag (it also does after every batch it handled).
LAG_REFRESH_SECONDS = 1.0
# The route label of a request no route matched (a 404 or 405): never the raw path, which
# would let any caller create series at will.
UNMATCHED_ROUTE = "unmatched"
# Request durations: from a cached read (a few ms) to a slow upload of a 20 MiB scan.
# Methods a client could make up are counted as "other": labels take values from fixed sets.
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0)

Refresher = Callable[[], Awaitable[None]]


class _Children:
    """The children of one labelled metric of a service, looked up once per label set:
    `.labels()` builds a key and takes a lock on every call, and the hot paths (each request,
    each record) only observe."""

    def __init__(self, metric: Histogram | Counter, service: str) -> None:
        self.metric = metric
        self.service = service
        self._children: dict[tuple[str, ...], Any] = {}

    def child(self, *labels: str) -> Any:
        found = self._children.get(labels)
        if found is None:
            found = self._children[labels] = self.metric.labels(self.service, *labels)
        return found


class ServiceMetrics:
    """Every metric family of one service, in the service's own registry."""

    def __init__(self, service: str) -> None:
        self.service = service
        self.registry = CollectorRegistry(auto_describe=True)
        registry = self.registry
        self.http_request_duration = Histogram(
            f"{PREFIX}_http_request_duration_seconds",
            "Time from a request's arrival to the end of its response, by route template.",
            ["service", "method", "route", "status"],
            registry=registry,
            buckets=HTTP_BUCKETS,
        )
        self.consumer_lag = Gauge(
            f"{PREFIX}_consumer_lag_messages",
            "Records on a partition not yet handled by the group: high watermark - position.",
            ["service", "group", "topic", "partition"],
            registry=registry,
        )
        self.dead_letters = Counter(
            f"{PREFIX}_dead_letters",
            "Records a consumer sent to <topic>.dlq, by the error that put them there.",
            ["service", "consumer", "topic", "error_type"],
            registry=registry,
        )
        self.events_consumed = Counter(
            f"{PREFIX}_events_consumed",
            "Records a consumer handled, by outcome (processed, duplicate, ignored, "
            "dead_lettered).",
            ["service", "consumer", "topic", "outcome"],
            registry=registry,
        )
        self.events_published = Counter(
            f"{PREFIX}_events_published",
            "Events the outbox relay published (acknowledged by the broker).",
            ["service", "topic", "event_type"],
            registry=registry,
        )
        self.outbox_pending = Gauge(
            f"{PREFIX}_outbox_pending_events",
            "Outbox rows neither published nor parked.",
            ["service"],
            registry=registry,
        )
        self.outbox_oldest_pending_age = Gauge(
            f"{PREFIX}_outbox_oldest_pending_age_seconds",
            "How long the oldest pending outbox row has waited (0 when none waits).",
            ["service"],
            registry=registry,
        )
        self.outbox_parked = Gauge(
            f"{PREFIX}_outbox_parked_events",
            "Outbox rows Kafka refused for good, held until an operator requeues them.",
            ["service"],
            registry=registry,
        )
        self.refresh_failures = Counter(
            f"{PREFIX}_metrics_refresh_failures",
            "Reads at scrape time that failed (the previous values are shown meanwhile).",
            ["service", "source"],
            registry=registry,
        )
        self._refreshers: list[tuple[str, Refresher]] = []
        self._refreshed_at = float("-inf")
        self._http = _Children(self.http_request_duration, service)
        self._published = _Children(self.events_published, service)
        self._consumed = _Children(self.events_consumed, service)

    # --- HTTP ---------------------------------------------------------------------------

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        self._http.child(method, route, str(status)).observe(seconds)

    # --- messaging ------------------------------------------------------------------------

    def consumer(self, name: str, group: str) -> ConsumerMetrics:
        return ConsumerMetrics(self, name, group)

    def published(self, topic: str, event_type: str) -> None:
        self._published.child(topic, event_type).inc()

    def consumed(self, consumer: str, topic: str, outcome: str) -> None:
        self._consumed.child(consumer, topic, outcome).inc()

    def dead_lettered(self, consumer: str, topic: str, error_type: str) -> None:
        self.dead_letters.labels(self.service, consumer, topic, error_type).inc()

    def set_outbox(self, *, pending: int, parked: int, oldest_pending_seconds: float) -> None:
        self.outbox_pending.labels(self.service).set(pending)
        self.outbox_parked.labels(self.service).set(parked)
        self.outbox_oldest_pending_age.labels(self.service).set(oldest_pending_seconds)

    # --- scraping -------------------------------------------------------------------------

    def refresh_on_scrape(self, source: str, refresher: Refresher) -> None:
        """Run `refresher` (which sets gauges from a database) before a scrape is answered,
        at most once per `REFRESH_SECONDS`."""
        self._refreshers.append((source, refresher))

    async def refresh(self) -> None:
        now = time.monotonic()
        if now - self._refreshed_at < REFRESH_SECONDS:
            return
        self._refreshed_at = now
        for source, refresher in self._refreshers:
            try:
                await refresher()
            except Exception as exc:
                # The database may be away: the scrape still answers, with the last values.
                self.refresh_failures.labels(self.service, source).inc()
                log.warning("metrics: reading %s failed: %s", source, type(exc).__name__)

    async def exposition(self) -> tuple[bytes, str]:
        """The registry in Prometheus' text format, and its content type."""
        await self.refresh()
        return generate_latest(self.registry), CONTENT_TYPE_LATEST

    def registry_text(self) -> str:
        """The registry as it stands, without reading anything first (tests)."""
        return generate_latest(self.registry).decode()

    def expire_refresh(self) -> None:
        """Let the next scrape read again at once, whatever the cache says (tests)."""
        self._refreshed_at = float("-inf")


class ConsumerMetrics:
    """What one consumer runner reports: its records' outcomes, dead letters and lag."""

    def __init__(self, metrics: ServiceMetrics, name: str, group: str) -> None:
        self.metrics = metrics
        self.name = name
        self.group = group
        self._lag: dict[TopicPartition, Any] = {}
        self._lag_at = float("-inf")

    def consumed(self, topic: str, outcome: str) -> None:
        self.metrics.consumed(self.name, topic, outcome)

    def dead_lettered(self, topic: str, error_type: str) -> None:
        self.metrics.dead_lettered(self.name, topic, error_type)

    def lag_due(self, handled_any: bool) -> bool:
        """Whether to recompute the lag now: after a batch, or when the last is a while old."""
        return handled_any or time.monotonic() - self._lag_at >= LAG_REFRESH_SECONDS

    def set_lag(self, lags: Iterable[tuple[TopicPartition, int]]) -> None:
        """The lag of every partition assigned to the group now; partitions no longer assigned
        (a rebalance gave them to another member) drop their series."""
        self._lag_at = time.monotonic()
        seen: set[TopicPartition] = set()
        gauge = self.metrics.consumer_lag
        for tp, lag in lags:
            seen.add(tp)
            child = self._lag.get(tp)
            if child is None:
                child = gauge.labels(self.metrics.service, self.group, tp.topic, str(tp.partition))
                self._lag[tp] = child
            child.set(max(lag, 0))
        for tp in set(self._lag) - seen:
            del self._lag[tp]
            labels = (self.metrics.service, self.group, tp.topic, str(tp.partition))
            try:
                gauge.remove(*labels)
            except KeyError:
                pass
