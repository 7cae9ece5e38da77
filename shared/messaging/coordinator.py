"""Waiting, quietly, for a consumer group's coordinator before a consumer starts."""

from __future__ import annotations

import asyncio
import logging

from aiokafka.client import AIOKafkaClient, CoordinationType
from aiokafka.errors import KafkaError

from shared.messaging.kafka import KafkaSecurity

log = logging.getLogger(__name__)

# How long a consumer's start waits for its group's coordinator (on a fresh broker Kafka
# creates __consumer_offsets at the first group's request, which takes a few seconds).
GROUP_COORDINATOR_TIMEOUT_SECONDS = 60.0


async def wait_for_group_coordinator(
    bootstrap_servers: str,
    group_id: str,
    *,
    client_id: str,
    security: KafkaSecurity | None = None,
    within: float = GROUP_COORDINATOR_TIMEOUT_SECONDS,
) -> bool:
    """Wait until Kafka names `group_id`'s coordinator; whether it did `within` seconds.

    aiokafka's consumer looks the coordinator up in the background and logs every refusal at
    ERROR: on a fresh broker (`make run`) that was a score of alarming, harmless
    GroupCoordinatorNotAvailableError lines per service. Asking first, quietly, leaves it
    nothing to complain about; an ERROR only when the coordinator never comes."""
    client = AIOKafkaClient(
        **(security or {}), bootstrap_servers=bootstrap_servers, client_id=client_id
    )
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    try:
        await client.bootstrap()
        while True:
            try:
                await client.coordinator_lookup(CoordinationType.GROUP, group_id)
                return True
            except KafkaError as refusal:
                if not refusal.retriable or loop.time() >= deadline:
                    log.error(
                        "%s: no coordinator for group %s within %.0f s: %s",
                        client_id,
                        group_id,
                        within,
                        refusal,
                    )
                    return False
                log.debug("%s: group %s's coordinator not yet: %s", client_id, group_id, refusal)
                await client.force_metadata_update()
                await asyncio.sleep(0.2)
    finally:
        await client.close()
