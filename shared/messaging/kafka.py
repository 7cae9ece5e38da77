"""Kafka clients configured the way every service needs them."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, KafkaError
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_delay, wait_exponential

log = logging.getLogger(__name__)

TOPIC_ALREADY_EXISTS = 36


def make_producer(bootstrap_servers: str, *, client_id: str) -> AIOKafkaProducer:
    # Idempotent producer with acks=all: a retried send never writes a record twice, and a
    # record counts as published only once the broker has it durably.
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers,
        client_id=client_id,
        enable_idempotence=True,
        acks="all",
        linger_ms=5,
    )


async def ensure_topics(
    bootstrap_servers: str, topics: Iterable[str], *, partitions: int = 3
) -> None:
    """Create the topics that do not exist yet (safe to run from several services at once)."""
    wanted = sorted(set(topics))
    async for attempt in AsyncRetrying(
        retry=retry_if_exception_type(KafkaConnectionError),
        wait=wait_exponential(multiplier=0.2, max=2),
        stop=stop_after_delay(30),
        reraise=True,
    ):
        with attempt:
            admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
            await admin.start()
            try:
                existing = set(await admin.list_topics())
                missing = [name for name in wanted if name not in existing]
                if not missing:
                    return
                response = await admin.create_topics(
                    [NewTopic(name, partitions, 1) for name in missing]
                )
                for topic, code, *_ in response.topic_errors:
                    if code not in (0, TOPIC_ALREADY_EXISTS):
                        raise KafkaError(f"cannot create topic {topic}: error code {code}")
                log.info("created %d Kafka topics", len(missing))
            finally:
                await admin.close()
