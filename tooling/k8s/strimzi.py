"""The Strimzi resources of the ACL table: a KafkaTopic for every topic it names (compacted or
kept for ever as its channel says) and a KafkaUser per principal carrying exactly its grants."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from shared.messaging.channels import RETAINED_FOR_EVER, Channel, channel_of
from shared.messaging.kafka import topic_partitions
from shared.reference.localities import get_locality
from tooling.k8s import PART_OF
from tooling.kafka_acl import AclBinding, AclTable, Operation, PatternType, ResourceType
from tooling.kafka_principals import ADMIN_PRINCIPAL, AUDIT_WATCH_PRINCIPAL

# The Strimzi Kafka resource (deploy/k8s/base/kafka/cluster.yaml) these belong to.
KAFKA_CLUSTER = "tongban"
STRIMZI_API = "kafka.strimzi.io/v1beta2"
# Replicas and min.insync.replicas of every topic in the base (the dev overlay takes 1).
TOPIC_REPLICAS = 3
MIN_INSYNC_REPLICAS = 2


def _topic(name: str, partitions: int) -> dict[str, Any]:
    try:
        channel: Channel | None = channel_of(name)
    except LookupError:  # dead-letter topics
        channel = None
    config: dict[str, Any] = {"min.insync.replicas": MIN_INSYNC_REPLICAS}
    if channel is not None and channel.retained:
        # Evidence (the ledger's checkpoints): every record, kept for good, never compacted.
        config.update(
            {
                key: int(value) if key.startswith("retention.") else value
                for key, value in RETAINED_FOR_EVER.items()
            }
        )
    elif channel is not None and channel.compacted:
        # State (rules, agreements): the latest record per key, kept for good.
        config["cleanup.policy"] = "compact"
    return {
        "apiVersion": STRIMZI_API,
        "kind": "KafkaTopic",
        "metadata": {
            "name": name,
            "labels": {"strimzi.io/cluster": KAFKA_CLUSTER, "app.kubernetes.io/part-of": PART_OF},
        },
        "spec": {
            "topicName": name,
            "partitions": partitions,
            "replicas": TOPIC_REPLICAS,
            "config": config,
        },
    }


_RESOURCE_TYPES = {ResourceType.TOPIC: "topic", ResourceType.GROUP: "group"}
_PATTERNS = {PatternType.LITERAL: "literal", PatternType.PREFIXED: "prefix"}
_OPERATIONS = {Operation.READ: "Read", Operation.WRITE: "Write"}


def _acl(binding: AclBinding) -> dict[str, Any]:
    return {
        "resource": {
            "type": _RESOURCE_TYPES[binding.resource_type],
            "name": binding.resource,
            "patternType": _PATTERNS[binding.pattern],
        },
        "operations": [_OPERATIONS[binding.operation]],
        "host": "*",
    }


def _user(principal: str, bindings: Iterable[AclBinding], description: str) -> dict[str, Any]:
    return {
        "apiVersion": STRIMZI_API,
        "kind": "KafkaUser",
        "metadata": {
            "name": principal,
            "labels": {"strimzi.io/cluster": KAFKA_CLUSTER, "app.kubernetes.io/part-of": PART_OF},
            "annotations": {"tongban/principal": description},
        },
        "spec": {
            # The User Operator makes the password and keeps it in a Secret of the user's name
            # (key `password`), which the Deployments reference.
            "authentication": {"type": "scram-sha-512"},
            "authorization": {"type": "simple", "acls": [_acl(b) for b in bindings]},
        },
    }


def kafka_topics(
    table: AclTable, partitions: int, locality_partitions: int
) -> list[dict[str, Any]]:
    """A KafkaTopic for every topic the ACL table names (the topics the local admin creates),
    with as many partitions as the local admin makes it with (topic_partitions)."""
    return [
        _topic(name, topic_partitions(name, partitions, locality_partitions))
        for name in table.topics
    ]


def kafka_users(table: AclTable) -> list[dict[str, Any]]:
    """A KafkaUser per principal of the table, carrying exactly its grants, and the admin's:
    the Kafka resource's super user (cluster.yaml), which needs credentials but no ACLs."""
    admin = _user(ADMIN_PRINCIPAL, (), "the super user (operators' tools, the console)")
    del admin["spec"]["authorization"]
    users = [admin]
    for principal in table.principals:
        code = principal.removeprefix("approval-")
        if code.isdigit():
            locality = get_locality(code)
            name = locality.name if locality else code
            description = f"the approval system of {code} ({name})"
        elif principal == AUDIT_WATCH_PRINCIPAL:
            description = "the audit watcher (tongban audit watch): reads the checkpoints"
        else:
            description = f"the {principal} service"
        users.append(_user(principal, table.of(principal), description))
    return users
