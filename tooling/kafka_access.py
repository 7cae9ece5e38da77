"""Kafka access of Tongban's principals: the ACL table of this code base, and what a local
approval system needs to connect (`tongban kafka-credentials`, `tongban kafka-acls`)."""

from __future__ import annotations

from shared.messaging.acl import AclTable, ServiceAccess, acl_table
from shared.reference.localities import locality_codes
from shared.settings import Settings


def approval_group_prefix() -> str:
    """Every approval instance's group id (APPROVAL_CONSUMER_GROUP) must start with this."""
    default = Settings.model_fields["approval_consumer_group"].default
    assert isinstance(default, str)
    return default


def service_accesses() -> list[ServiceAccess]:
    """What each service reads, as its own modules declare it (subscriptions, replicas)."""
    from services.approval import consumers as approval
    from services.delivery import consumers as delivery
    from services.intake import consumers as intake
    from services.intake.rules_replica import RulesReplica
    from services.routing import consumers as routing

    return [
        ServiceAccess("intake", (intake.SUBSCRIPTION,), follows=(RulesReplica.TOPIC,)),
        ServiceAccess("routing", (routing.SUBSCRIPTION,)),
        # An instance serves some localities (APPROVAL_LOCALITIES) with a group of its own.
        ServiceAccess(
            "approval",
            (approval.subscription(locality_codes(), approval_group_prefix()),),
            groups_by_prefix=True,
        ),
        ServiceAccess("delivery", (delivery.SUBSCRIPTION,)),
    ]


def tongban_acl_table() -> AclTable:
    """The grants of the four services and of every locality's approval system."""
    return acl_table(service_accesses(), locality_codes())
