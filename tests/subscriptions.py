"""What each service reads as its own modules declare it (the Subscriptions its main.py runs, the
topics its replicas follow), in the form of the table of readers (shared.messaging.readers), so
tests can hold one to the other. Tests may import services; the tooling may not."""

from __future__ import annotations

from services.approval import consumers as approval
from services.delivery import consumers as delivery
from services.intake import consumers as intake
from services.intake.rules_replica import RulesReplica
from services.portal import consumers as portal
from services.portal.residents import load_residents
from services.routing import consumers as routing
from services.routing.usecases.ledger import TailGuard
from shared.audit.checkpoints import CheckpointFollower
from shared.audit.macs import EntryMacs
from shared.messaging.readers import ConsumerGroup, ServiceReads
from shared.messaging.subscriptions import Subscription
from shared.reference.localities import locality_codes
from shared.settings import Settings
from tooling.audit_watch import CheckpointWatcher
from tooling.kafka_principals import AUDIT_WATCH_PRINCIPAL


def approval_group() -> str:
    """An approval instance's group id as configured by default (APPROVAL_CONSUMER_GROUP)."""
    default = Settings.model_fields["approval_consumer_group"].default
    assert isinstance(default, str)
    return default


def declared_subscriptions() -> dict[str, tuple[Subscription, ...]]:
    """Every subscription of each service, as its main.py subscribes it (approval serving
    every locality)."""
    return {
        "intake": intake.SUBSCRIPTIONS,
        "routing": (
            routing.SUBSCRIPTION,
            routing.ledger_subscription(TailGuard(EntryMacs(b"", ()))),
        ),
        "approval": (approval.subscription(locality_codes(), approval_group()),),
        "delivery": delivery.SUBSCRIPTIONS,
        "portal": (portal.subscription(load_residents(None, b"")),),
        # `tongban audit watch` assigns its partitions by hand: no group at all.
        AUDIT_WATCH_PRINCIPAL: (),
    }


# The topics read without a group: intake's replica of routing's rules, routing's follower of
# the checkpoints it published, and the audit watcher's copy of them.
DECLARED_FOLLOWS = {
    "intake": (RulesReplica.TOPIC,),
    "routing": (CheckpointFollower.TOPIC,),
    AUDIT_WATCH_PRINCIPAL: (CheckpointWatcher.TOPIC,),
}


def declared_readers() -> tuple[ServiceReads, ...]:
    """The table of readers as the services' own declarations give it, topics expanded."""
    return tuple(
        ServiceReads(
            service,
            tuple(
                # A group id given (from configuration: APPROVAL_CONSUMER_GROUP) is one of many
                # an instance may be given; the broker grants them by prefix.
                ConsumerGroup(
                    subscription.group_id or subscription.name,
                    subscription.topics,
                    by_prefix=subscription.group_id is not None,
                )
                for subscription in subscriptions
            ),
            follows=DECLARED_FOLLOWS.get(service, ()),
        )
        for service, subscriptions in declared_subscriptions().items()
    )
