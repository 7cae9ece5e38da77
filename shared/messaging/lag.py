"""How far each Tongban consumer group is behind, as Kafka sees it: the group's committed
offset of each partition against the partition's end offset. For operators (the console);
a consumer runner reports its own live lag in GET /metrics (shared.metrics)."""

from __future__ import annotations

from dataclasses import dataclass

from aiokafka import TopicPartition

from shared.messaging.kafka import client_security, make_admin, make_follower
from shared.settings import Settings

# Tongban's own consumer groups (tongban.intake.progress, tongban.approval, ...); a local
# approval system's groups are its own business.
GROUP_PREFIX = "tongban."


@dataclass(frozen=True)
class PartitionLag:
    group: str
    topic: str
    partition: int
    committed: int
    end: int

    @property
    def lag(self) -> int:
        return max(self.end - self.committed, 0)


async def committed_lag(settings: Settings, prefix: str = GROUP_PREFIX) -> list[PartitionLag]:
    """Every partition a group whose id starts with `prefix` has committed an offset on, by
    group, topic and partition (Kafka's admin API, with the settings' Kafka credentials)."""
    security = client_security(settings)
    admin = make_admin(settings.kafka_bootstrap_servers, security=security)
    await admin.start()
    try:
        groups = sorted(
            group_id
            for group_id, *_ in await admin.list_consumer_groups()
            if group_id.startswith(prefix)
        )
        committed: dict[tuple[str, TopicPartition], int] = {}
        for group in groups:
            offsets = await admin.list_consumer_group_offsets(group)
            for partition, meta in offsets.items():
                if meta.offset >= 0:
                    committed[(group, partition)] = meta.offset
    finally:
        await admin.close()
    if not committed:
        return []
    # End offsets through a consumer without a group (the admin client has no ListOffsets).
    consumer = make_follower(
        settings.kafka_bootstrap_servers, client_id="tongban-lag", security=security
    )
    await consumer.start()
    try:
        ends = await consumer.end_offsets(list({tp for _, tp in committed}))
    finally:
        await consumer.stop()
    return [
        PartitionLag(group, tp.topic, tp.partition, offset, ends.get(tp, offset))
        for (group, tp), offset in sorted(
            committed.items(),
            key=lambda item: (item[0][0], item[0][1].topic, item[0][1].partition),
        )
    ]
