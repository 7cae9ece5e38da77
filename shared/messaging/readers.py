"""Who reads which topics: each service's consumer groups with the topics each reads, and the
topics it follows without a group (replicas of compacted topics, the ledger's checkpoints).

Plain data, so that the Kafka ACL table (tooling.kafka_access) is made without importing a
service. The services still declare their own subscriptions (services/*/consumers.py), which
run; tests/unit/test_readers.py holds this table to them, so neither can drift from the other.

A topic address with `{locality}` stands for one topic per locality, as in the channel table
(shared.messaging.channels).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from shared.messaging import topics
from shared.messaging.channels import CHANNELS, LOCALITY_PARAMETER

# Every approval instance's consumer group id (APPROVAL_CONSUMER_GROUP) starts with this.
APPROVAL_GROUP_PREFIX = "tongban.approval"
# `tongban audit watch` (tooling/audit_watch.py): a reader of its own, not a service, so that
# a routing gone rogue cannot speak for it and it can do nothing but read the checkpoints.
AUDIT_WATCHER = "tongban-audit-watch"


@dataclass(frozen=True)
class ConsumerGroup:
    """One consumer group: its id (with `by_prefix`, what the id of each instance's group,
    taken from configuration, starts with) and the addresses of the topics it reads."""

    group: str
    reads: tuple[str, ...]
    by_prefix: bool = False

    def topics(self, localities: Iterable[str]) -> tuple[str, ...]:
        """The topics it reads, each per-locality address expanded to `localities`' topics."""
        return expand(self.reads, localities)


@dataclass(frozen=True)
class ServiceReads:
    """What one service's processes read: with its consumer groups, and without one."""

    service: str
    groups: tuple[ConsumerGroup, ...]
    follows: tuple[str, ...] = ()


def expand(addresses: Iterable[str], localities: Iterable[str]) -> tuple[str, ...]:
    """The topics of `addresses`: each per-locality one as the topic of each of `localities`."""
    codes = sorted(set(localities))
    found: list[str] = []
    for address in addresses:
        if LOCALITY_PARAMETER in address:
            found += [address.replace(LOCALITY_PARAMETER, code) for code in codes]
        else:
            found.append(address)
    return tuple(found)


# The audit ledger chains every channel's topics but its own checkpoints (a statement about the
# chain is not chained into it: each would move the head, and call for a new checkpoint, for
# ever). Dead-letter topics are not read: what lands there was read from a topic it reads.
LEDGER_READS = tuple(
    channel.address for channel in CHANNELS if channel.address != topics.AUDIT_CHECKPOINTS
)

READERS: tuple[ServiceReads, ...] = (
    ServiceReads(
        "intake",
        (
            ConsumerGroup(
                "tongban.intake.progress",
                (topics.APPROVAL_EVENTS, topics.DELIVERY_EVENTS, topics.FEDERATION_RESULTS),
            ),
            ConsumerGroup("tongban.intake.routing", (topics.ROUTING_EVENTS,)),
            # 视频会商 about an application: notes on its timeline.
            ConsumerGroup("tongban.intake.consultations", (topics.CONSULTATION_EVENTS,)),
        ),
        # Its replica of routing's rules and agreements.
        follows=(topics.ROUTING_RULES,),
    ),
    ServiceReads(
        "routing",
        (
            ConsumerGroup(
                "tongban.routing",
                (topics.INTAKE_EVENTS, topics.APPROVAL_EVENTS, topics.FEDERATION_INCOMING),
            ),
            ConsumerGroup("tongban.routing.ledger", LEDGER_READS),
        ),
        # The checkpoints it published, read back: they, not its database, are what its
        # chain must match.
        follows=(topics.AUDIT_CHECKPOINTS,),
    ),
    ServiceReads(
        "approval",
        # An instance serves some localities (APPROVAL_LOCALITIES) with a group of its own;
        # 视频核验 of their cases' materials come on the consultation service's topic.
        (
            ConsumerGroup(
                APPROVAL_GROUP_PREFIX,
                (topics.approval_requests(LOCALITY_PARAMETER), topics.CONSULTATION_EVENTS),
                by_prefix=True,
            ),
        ),
    ),
    ServiceReads(
        "delivery",
        (
            # intake's events for 一件事's BundleCompleted only (one hand-over per bundle).
            ConsumerGroup("tongban.delivery", (topics.APPROVAL_EVENTS, topics.INTAKE_EVENTS)),
            ConsumerGroup("tongban.delivery.routing", (topics.ROUTING_EVENTS,)),
            # 跨省通办: partners' certificates for applications this province handed over.
            ConsumerGroup("tongban.delivery.federation", (topics.FEDERATION_RESULTS,)),
        ),
    ),
    # The applicants' portal: the facts it tells applicants of by SMS (services/portal/
    # consumers.py), from the province-wide topics only.
    ServiceReads(
        "portal",
        (ConsumerGroup("tongban.portal", (topics.APPROVAL_EVENTS, topics.DELIVERY_EVENTS)),),
    ),
    # 视频会商 (services/consultation) publishes its channel and reads nothing (intake,
    # approval and routing's ledger read it).
    ServiceReads("consultation", ()),
    # The federation gateway (跨省通办): what routing hands over to partner provinces, and
    # approval's facts, of which it sends back those of applications partners' windows took,
    # and delivery's, of which it sends the competent partner those of applications handed over.
    ServiceReads(
        "federation",
        (
            ConsumerGroup(
                "tongban.federation",
                (topics.FEDERATION_OUTGOING, topics.APPROVAL_EVENTS, topics.DELIVERY_EVENTS),
            ),
        ),
    ),
    # The audit watcher assigns the checkpoints' partitions by hand: no group, and it writes
    # nothing (it produces no channel and has no dead letters).
    ServiceReads(AUDIT_WATCHER, (), follows=(topics.AUDIT_CHECKPOINTS,)),
)
