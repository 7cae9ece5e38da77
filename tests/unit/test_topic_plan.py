"""How many partitions each topic gets (issue 23, scale out): the busy province-wide topics at
least four, keyed by application number; the per-locality families one each; a topic made
narrower than planned is raised, never narrowed."""

from __future__ import annotations

from datetime import UTC, date, datetime

from shared.messaging import events, topics
from shared.messaging.channels import CHANNELS
from shared.messaging.envelope import Envelope
from shared.messaging.kafka import partitions_to_add, topic_plan
from shared.settings import Settings
from tooling.kafka_access import tongban_acl_table

BUSY = (
    topics.INTAKE_EVENTS,
    topics.ROUTING_EVENTS,
    topics.APPROVAL_EVENTS,
    topics.DELIVERY_EVENTS,
    topics.FEDERATION_OUTGOING,
    topics.FEDERATION_INCOMING,
    topics.FEDERATION_RESULTS,
    topics.FEDERATION_EVENTS,
)


def default_plan() -> dict[str, int]:
    """The plan the launcher and `tongban kafka-acls --apply` make the ACL table's topics with
    (the Settings defaults, as the Strimzi KafkaTopics are generated)."""
    settings = Settings()
    return topic_plan(
        tongban_acl_table().topics,
        settings.kafka_topic_partitions,
        settings.kafka_locality_topic_partitions,
    )


def test_every_busy_province_wide_topic_and_its_dead_letters_have_at_least_four_partitions() -> (
    None
):
    plan = default_plan()
    for topic in BUSY:
        assert plan[topic] >= 4, topic
        assert plan[topics.dead_letter(topic)] >= 4, topic
    # Every topic of a channel that is not per locality, whatever it carries.
    for channel in CHANNELS:
        if not channel.per_locality:
            assert plan[channel.address] >= 4, channel.id


def test_each_localitys_request_topic_keeps_one_partition_and_they_are_many() -> None:
    """Approval instances share a group's load topic by topic (121 of them in Anhui), and a
    partition more each would multiply what every fetch names (topic_partitions says why)."""
    plan = default_plan()
    requests = {t: n for t, n in plan.items() if t.startswith(topics.APPROVAL_REQUESTS_PREFIX)}
    assert len([t for t in requests if not t.endswith(topics.DEAD_LETTER_SUFFIX)]) >= 100
    assert set(requests.values()) == {1}


def test_a_narrower_existing_topic_is_raised_a_wider_one_kept_a_missing_one_left_to_create() -> (
    None
):
    planned = {"a": 4, "b": 4, "c": 4, "d": 1, "e": 4}
    # "e": listed without partitions, still being made by another process.
    existing = {"a": 3, "b": 4, "d": 2, "e": 0, "other": 1}
    assert partitions_to_add(existing, planned) == {"a": 4}


def test_every_application_event_is_keyed_by_its_application_number() -> None:
    """The key decides the partition: one application's events land on one partition, in the
    order they were published."""
    opened = events.CaseOpened(
        application_no="TB202612030001",
        locality="340100",
        deadline=date(2026, 12, 31),
        opened_at=datetime.now(UTC),
    )
    envelope = Envelope.new(opened, source="/tongban/approval")
    key, _value, _headers = envelope.to_kafka()
    assert key == b"TB202612030001"
    routed = events.Routed(
        application_no="TB202612030001",
        competent_locality="340100",
        department="公安局",
        receiving_locality="341200",
        routed_at=datetime.now(UTC),
    )
    assert Envelope.new(routed, source="/tongban/routing").to_kafka()[0] == key
