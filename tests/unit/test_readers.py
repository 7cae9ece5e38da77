"""The table of who reads what (shared.messaging.readers), from which the Kafka ACL table is made
without importing a service, says what the services' own subscriptions and replicas read: a
consumer group added, renamed or reading another topic in a service fails here until the table
says so too (or the broker would refuse it its group or its topic)."""

from __future__ import annotations

from collections.abc import Iterable

from services.approval import consumers as approval
from services.delivery import consumers as delivery
from services.intake import consumers as intake
from services.routing import consumers as routing
from shared.messaging.readers import APPROVAL_GROUP_PREFIX, READERS, ServiceReads
from shared.messaging.subscriptions import Subscription
from shared.reference.localities import locality_codes
from tests.subscriptions import approval_group, declared_readers, declared_subscriptions
from tooling.kafka_access import tongban_acl_table
from tooling.kafka_acl import acl_table


def groups(readers: Iterable[ServiceReads]) -> dict[str, set[tuple[str, frozenset[str], bool]]]:
    codes = locality_codes()
    return {
        service.service: {
            (group.group, frozenset(group.topics(codes)), group.by_prefix)
            for group in service.groups
        }
        for service in readers
    }


def test_each_service_reads_in_its_groups_what_the_table_says() -> None:
    assert groups(READERS) == groups(declared_readers())


def test_each_service_follows_without_a_group_what_the_table_says() -> None:
    table = {service.service: set(service.follows) for service in READERS}
    declared = {service.service: set(service.follows) for service in declared_readers()}
    assert table == declared


def test_the_acl_table_is_the_one_the_services_declarations_make() -> None:
    """The grants made from the table are, binding for binding, those made from the services'
    own subscriptions (how the table was collected before it was data)."""
    assert tongban_acl_table() == acl_table(declared_readers(), locality_codes())


def test_every_subscription_a_consumers_module_declares_is_in_the_table() -> None:
    """A Subscription added to a consumers module (and run by its main.py) without being named
    among the declared ones would escape the comparison above."""
    declared = {sub.name for subs in declared_subscriptions().values() for sub in subs}
    for module in (intake, routing, approval, delivery):
        for value in vars(module).values():
            found = value if isinstance(value, tuple) else (value,)
            for subscription in found:
                if isinstance(subscription, Subscription):
                    assert subscription.name in declared, f"{module.__name__}: {subscription.name}"


def test_approval_groups_start_with_the_configured_prefix() -> None:
    assert approval_group() == APPROVAL_GROUP_PREFIX
