"""The Kafka ACL table gives each principal what its channels and subscriptions justify, and
nothing else: deny by default, no wildcards, no creating or deleting, no cluster rights."""

from __future__ import annotations

import pytest

from shared.messaging import topics
from shared.messaging.channels import CHANNELS, channel_of
from shared.reference.localities import locality_codes
from shared.settings import SERVICES
from tests.subscriptions import declared_readers
from tooling.kafka_access import tongban_acl_table
from tooling.kafka_acl import AclBinding, Operation, PatternType, ResourceType
from tooling.kafka_principals import ADMIN_PRINCIPAL, AUDIT_WATCH_PRINCIPAL, locality_principal

TABLE = tongban_acl_table()
# What each service reads as its own modules declare it (its subscriptions and replicas).
DECLARED = {reads.service: reads for reads in declared_readers()}
# The principals of Tongban's processes: the services, and the portal (which reads the facts it
# notifies applicants of).
PROCESSES = (*SERVICES, "portal")


def reads_of(service: str) -> set[str]:
    return subscribed_by(service) | set(DECLARED[service].follows)


def subscribed_by(service: str) -> set[str]:
    return {topic for group in DECLARED[service].groups for topic in group.reads}


def test_the_principals_are_the_services_the_audit_watcher_and_one_per_locality() -> None:
    expected = set(PROCESSES) | {locality_principal(code) for code in locality_codes()}
    expected.add(AUDIT_WATCH_PRINCIPAL)
    assert set(TABLE.principals) == expected
    assert ADMIN_PRINCIPAL not in TABLE.principals  # a super user, outside the table


def test_only_read_and_write_literal_topics_and_read_groups_are_granted() -> None:
    for binding in TABLE.bindings:
        assert binding.operation in (Operation.READ, Operation.WRITE), binding
        assert binding.resource_type in (ResourceType.TOPIC, ResourceType.GROUP), binding
        assert "*" not in binding.resource and binding.resource, binding
        if binding.resource_type is ResourceType.TOPIC:
            assert binding.pattern is PatternType.LITERAL, binding
        else:
            assert binding.operation is Operation.READ, binding
    assert len(set(TABLE.bindings)) == len(TABLE.bindings)


def test_a_service_writes_its_own_channels_and_the_dead_letters_of_what_it_reads() -> None:
    for binding in TABLE.bindings:
        if binding.operation is not Operation.WRITE:
            continue
        service, topic = binding.principal, binding.resource
        assert service in PROCESSES, binding
        if topic.endswith(topics.DEAD_LETTER_SUFFIX):
            assert topic.removesuffix(topics.DEAD_LETTER_SUFFIX) in subscribed_by(service)
        else:
            assert channel_of(topic).producer == service, binding


def test_a_service_reads_what_it_subscribes_to_or_follows_only() -> None:
    for binding in TABLE.bindings:
        if binding.operation is Operation.READ and binding.resource_type is ResourceType.TOPIC:
            if binding.principal in PROCESSES:
                assert binding.resource in reads_of(binding.principal), binding


def test_every_channel_can_be_written_by_its_producer_and_by_nobody_else() -> None:
    for channel in CHANNELS:
        topic = channel.address.replace("{locality}", "340100")
        writers = {
            principal
            for principal in TABLE.principals
            if TABLE.allows(principal, ResourceType.TOPIC, topic, Operation.WRITE)
        }
        assert writers == {channel.producer}, channel.id


def test_each_service_may_do_what_it_does_at_run_time() -> None:
    allows = TABLE.allows
    assert allows("intake", ResourceType.TOPIC, topics.ROUTING_RULES, Operation.READ)
    assert allows("intake", ResourceType.GROUP, "tongban.intake.progress", Operation.READ)
    assert allows(
        "routing", ResourceType.TOPIC, topics.approval_requests("341200"), Operation.WRITE
    )
    # Approval instances each have a group of their own (APPROVAL_CONSUMER_GROUP).
    for group in ("tongban.approval", "tongban.approval.b"):
        assert allows("approval", ResourceType.GROUP, group, Operation.READ)
    dlq = topics.dead_letter(topics.approval_requests("340100"))
    assert allows("approval", ResourceType.TOPIC, dlq, Operation.WRITE)
    assert allows("delivery", ResourceType.TOPIC, topics.DELIVERY_EVENTS, Operation.DESCRIBE)


def test_a_request_topic_is_read_by_approval_that_locality_and_the_ledger() -> None:
    topic = topics.approval_requests("340100")
    readers = {
        principal
        for principal in TABLE.principals
        if TABLE.allows(principal, ResourceType.TOPIC, topic, Operation.READ)
    }
    # Routing writes it, and reads it back only to chain each record in the audit ledger.
    assert readers == {"approval", "approval-340100", "routing"}


@pytest.mark.parametrize("code", ["340100", "340200", "341202"])
def test_a_locality_reads_its_own_request_topic_with_its_own_groups_and_nothing_else(
    code: str,
) -> None:
    principal = locality_principal(code)
    assert set(TABLE.of(principal)) == {
        AclBinding(
            principal,
            ResourceType.TOPIC,
            topics.approval_requests(code),
            PatternType.LITERAL,
            Operation.READ,
        ),
        AclBinding(
            principal, ResourceType.GROUP, f"{principal}.", PatternType.PREFIXED, Operation.READ
        ),
    }
    other = "340200" if code != "340200" else "340100"
    allows = TABLE.allows
    assert not allows(
        principal, ResourceType.TOPIC, topics.approval_requests(other), Operation.READ
    )
    assert not allows(
        principal, ResourceType.TOPIC, topics.approval_requests(code), Operation.WRITE
    )
    assert not allows(principal, ResourceType.GROUP, f"approval-{other}.x", Operation.READ)
    assert not allows(principal, ResourceType.GROUP, "tongban.approval", Operation.READ)


def test_the_table_names_every_channel_topic_and_their_dead_letters_only() -> None:
    named = set(TABLE.topics)
    assert set(topics.approval_request_topics(locality_codes())) <= named
    for channel in CHANNELS:
        if "{locality}" not in channel.address:
            assert channel.address in named
    for topic in named:
        channel_of(topic.removesuffix(topics.DEAD_LETTER_SUFFIX))  # raises for a stray topic


def test_the_audit_watcher_reads_the_checkpoints_and_can_do_nothing_else() -> None:
    """Its one grant: READ on the checkpoints topic (DESCRIBE implied), no group (it assigns
    partitions by hand), nothing to write, so a stolen watcher password forges nothing."""
    assert TABLE.of(AUDIT_WATCH_PRINCIPAL) == [
        AclBinding(
            AUDIT_WATCH_PRINCIPAL,
            ResourceType.TOPIC,
            topics.AUDIT_CHECKPOINTS,
            PatternType.LITERAL,
            Operation.READ,
        )
    ]
    allows = TABLE.allows
    assert allows(
        AUDIT_WATCH_PRINCIPAL, ResourceType.TOPIC, topics.AUDIT_CHECKPOINTS, Operation.DESCRIBE
    )
    for topic in TABLE.topics:
        assert not allows(AUDIT_WATCH_PRINCIPAL, ResourceType.TOPIC, topic, Operation.WRITE), topic
        if topic != topics.AUDIT_CHECKPOINTS:
            assert not allows(AUDIT_WATCH_PRINCIPAL, ResourceType.TOPIC, topic, Operation.READ)
