"""Who may do what on Kafka: the ACL table, derived from the channels and the subscriptions.

The broker denies by default (`allow.everyone.if.no.acl.found=false`); a principal may do what
this table allows and nothing else. The table is not a list kept by hand: a service may write
the topics of the channels it produces (`CHANNELS`) and the dead-letter topics of what it reads,
read the topics of its consumer groups (and the topics it follows without a group), and use its
consumer groups, as the table of readers says (`READERS`, which the services' subscriptions are
held to). A locality's approval system (`approval-<code>`) may read its own
request topic with groups of its own prefix, and nothing else; the audit watcher
(`tongban-audit-watch`, a reader of the table without a group) reads the ledger's checkpoints
and nothing else.

Kafka's authorizer lets READ and WRITE imply DESCRIBE, and a principal that may write some topic
may produce idempotently (KIP-679), so the table holds READ and WRITE only. Nobody but the
launcher's admin (a super user) may create topics: the admin creates every topic the table names
when it applies the table, so a service that declares a topic the table does not know fails at
start instead of creating it.

`apply_acls` brings a broker to the table (idempotent: it adds what is missing and removes grants
of the table's principals that the table no longer makes); `tongban kafka-acls` prints and
applies it. aiokafka's admin client has no ACL methods, so the requests go through its bare
client with the protocol structs of `aiokafka.protocol.admin` (CreateAcls, DescribeAcls,
DeleteAcls v1, which Kafka 3.x serves).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from aiokafka.client import AIOKafkaClient
from aiokafka.errors import KafkaError
from aiokafka.protocol.admin import (
    CreateAclsRequest_v1,
    DeleteAclsRequest_v1,
    DescribeAclsRequest_v1,
)
from aiokafka.protocol.api import Request

from shared.messaging.channels import CHANNELS
from shared.messaging.kafka import KafkaSecurity, ensure_topics, keep_retained, make_client
from shared.messaging.readers import ServiceReads
from shared.messaging.topics import approval_requests, dead_letter
from shared.settings import Settings
from tooling.kafka_principals import (
    LOCALITY_PRINCIPAL,
    locality_group_prefix,
    locality_principal,
)

_DEFAULTS = Settings.model_fields  # the topics' partitions when the caller names none


class ResourceType(IntEnum):
    # org.apache.kafka.common.resource.ResourceType
    UNKNOWN = 0
    ANY = 1
    TOPIC = 2
    GROUP = 3
    CLUSTER = 4
    TRANSACTIONAL_ID = 5
    DELEGATION_TOKEN = 6
    USER = 7


class PatternType(IntEnum):
    # org.apache.kafka.common.resource.PatternType
    UNKNOWN = 0
    ANY = 1
    MATCH = 2
    LITERAL = 3
    PREFIXED = 4


class Operation(IntEnum):
    # org.apache.kafka.common.acl.AclOperation
    UNKNOWN = 0
    ANY = 1
    ALL = 2
    READ = 3
    WRITE = 4
    CREATE = 5
    DELETE = 6
    ALTER = 7
    DESCRIBE = 8
    CLUSTER_ACTION = 9
    DESCRIBE_CONFIGS = 10
    ALTER_CONFIGS = 11
    IDEMPOTENT_WRITE = 12
    CREATE_TOKENS = 13
    DESCRIBE_TOKENS = 14


class Permission(IntEnum):
    # org.apache.kafka.common.acl.AclPermissionType
    UNKNOWN = 0
    ANY = 1
    DENY = 2
    ALLOW = 3


ANY_HOST = "*"


@dataclass(frozen=True, order=True)
class AclBinding:
    """One grant: ALLOW `operation` on a resource to `User:<principal>` from any host."""

    principal: str
    resource_type: ResourceType
    resource: str
    pattern: PatternType
    operation: Operation

    @property
    def user(self) -> str:
        return f"User:{self.principal}"

    def __str__(self) -> str:
        pattern = "" if self.pattern is PatternType.LITERAL else " (prefix)"
        return (
            f"{self.principal:<16} {self.operation.name:<6} "
            f"{self.resource_type.name.lower():<6} {self.resource}{pattern}"
        )


@dataclass(frozen=True)
class AclTable:
    bindings: tuple[AclBinding, ...]
    # Every topic the table names; the admin creates them.
    topics: tuple[str, ...]

    @property
    def principals(self) -> tuple[str, ...]:
        return tuple(sorted({binding.principal for binding in self.bindings}))

    def of(self, principal: str) -> list[AclBinding]:
        return [binding for binding in self.bindings if binding.principal == principal]

    def allows(
        self, principal: str, resource_type: ResourceType, name: str, operation: Operation
    ) -> bool:
        """What the broker's authorizer decides from this table alone (deny by default)."""
        implied = {operation}
        if operation is Operation.DESCRIBE:
            implied |= {Operation.READ, Operation.WRITE, Operation.DELETE, Operation.ALTER}
        return any(
            binding.principal == principal
            and binding.resource_type is resource_type
            and binding.operation in implied
            and (
                name == binding.resource
                if binding.pattern is PatternType.LITERAL
                else name.startswith(binding.resource)
            )
            for binding in self.bindings
        )

    def render(self, principal: str | None = None) -> str:
        rows = self.bindings if principal is None else tuple(self.of(principal))
        return "\n".join(str(binding) for binding in rows)


def channel_topics(localities: Iterable[str]) -> dict[str, list[str]]:
    """The topics each producer writes, per-locality families expanded."""
    codes = sorted(set(localities))
    written: dict[str, list[str]] = {}
    for channel in CHANNELS:
        written.setdefault(channel.producer, []).extend(channel.topics(codes))
    return written


def acl_table(services: Sequence[ServiceReads], localities: Iterable[str]) -> AclTable:
    """The grants of every service (by what it reads, shared.messaging.readers) and every
    locality's approval system."""
    codes = sorted(set(localities))
    written = channel_topics(codes)
    bindings: set[AclBinding] = set()

    def grant(
        principal: str,
        operation: Operation,
        resource_type: ResourceType,
        name: str,
        pattern: PatternType = PatternType.LITERAL,
    ) -> None:
        bindings.add(AclBinding(principal, resource_type, name, pattern, operation))

    for service in services:
        principal = service.service
        writes = list(written.get(principal, ()))
        reads = [topic for group in service.groups for topic in group.topics(codes)]
        # A consumer parks what it cannot handle on <topic>.dlq (shared.messaging.consumer).
        writes += [dead_letter(topic) for topic in reads]
        reads += service.follows
        for topic in writes:
            grant(principal, Operation.WRITE, ResourceType.TOPIC, topic)
        for topic in reads:
            grant(principal, Operation.READ, ResourceType.TOPIC, topic)
        for group in service.groups:
            pattern = PatternType.PREFIXED if group.by_prefix else PatternType.LITERAL
            grant(principal, Operation.READ, ResourceType.GROUP, group.group, pattern)
    for code in codes:
        principal = locality_principal(code)
        grant(principal, Operation.READ, ResourceType.TOPIC, approval_requests(code))
        grant(
            principal,
            Operation.READ,
            ResourceType.GROUP,
            locality_group_prefix(code),
            PatternType.PREFIXED,
        )
    topics = {b.resource for b in bindings if b.resource_type is ResourceType.TOPIC}
    return AclTable(tuple(sorted(bindings)), tuple(sorted(topics)))


# --- the broker's side ----------------------------------------------------------------------


class _CreateAcls(Request[CreateAclsRequest_v1]):
    API_KEY = 30

    def __init__(self, bindings: Sequence[AclBinding]) -> None:
        self.bindings = bindings

    def build(self, request_struct_class: type[CreateAclsRequest_v1]) -> CreateAclsRequest_v1:
        return request_struct_class(
            [
                (
                    b.resource_type,
                    b.resource,
                    b.pattern,
                    b.user,
                    ANY_HOST,
                    b.operation,
                    Permission.ALLOW,
                )
                for b in self.bindings
            ]
        )


class _DescribeAllAcls(Request[DescribeAclsRequest_v1]):
    API_KEY = 29

    def build(self, request_struct_class: type[DescribeAclsRequest_v1]) -> DescribeAclsRequest_v1:
        # Any resource, any pattern, any principal, host, operation and permission.
        return request_struct_class(
            ResourceType.ANY, None, PatternType.ANY, None, None, Operation.ANY, Permission.ANY
        )


@dataclass(frozen=True)
class _Grant:
    """An ACL as the broker holds it (any host, allow or deny)."""

    binding: AclBinding
    host: str
    permission: int


class _DeleteAcls(Request[DeleteAclsRequest_v1]):
    API_KEY = 31

    def __init__(self, grants: Sequence[_Grant]) -> None:
        self.grants = grants

    def build(self, request_struct_class: type[DeleteAclsRequest_v1]) -> DeleteAclsRequest_v1:
        return request_struct_class(
            [
                (
                    g.binding.resource_type,
                    g.binding.resource,
                    g.binding.pattern,
                    g.binding.user,
                    g.host,
                    g.binding.operation,
                    g.permission,
                )
                for g in self.grants
            ]
        )


@dataclass(frozen=True)
class AppliedAcls:
    created: int
    removed: int
    unchanged: int


async def _send(client: AIOKafkaClient, request: Request[Any]) -> Any:
    return await client.send(client.get_random_node(), request)


async def _describe(client: AIOKafkaClient) -> list[_Grant]:
    response = await _send(client, _DescribeAllAcls())
    if response.error_code:
        raise KafkaError(f"DescribeAcls failed: {response.error_code} {response.error_message}")
    grants = []
    for resource_type, name, pattern, acls in response.resources:
        for principal, host, operation, permission in acls:
            kind, _, user = principal.partition(":")
            if kind != "User":
                continue
            binding = AclBinding(
                user,
                ResourceType(resource_type),
                name,
                PatternType(pattern),
                Operation(operation),
            )
            grants.append(_Grant(binding, host, permission))
    return grants


def _manages(table: AclTable, principal: str) -> bool:
    # Also a locality that left the reference list: its grants go.
    return principal in table.principals or bool(LOCALITY_PRINCIPAL.fullmatch(principal))


async def apply_acls(
    bootstrap_servers: str,
    table: AclTable,
    *,
    security: KafkaSecurity | None = None,
    partitions: int = _DEFAULTS["kafka_topic_partitions"].default,
    locality_partitions: int = _DEFAULTS["kafka_locality_topic_partitions"].default,
    settle_seconds: float = 15.0,
) -> AppliedAcls:
    """Create the table's grants and topics that are missing (and raise the partitions of a
    topic made with fewer than planned), remove grants of its principals that it does not make;
    run as a super user. Returns once the broker enforces the table."""
    client = make_client(bootstrap_servers, security=security, request_timeout_ms=30000)
    await client.bootstrap()
    try:
        grants = await _describe(client)
        wanted = set(table.bindings)
        present = {
            g.binding for g in grants if g.host == ANY_HOST and g.permission == Permission.ALLOW
        }
        missing = sorted(wanted - present)
        # Denials only take away; anything else a table principal was allowed goes.
        stale = [
            g
            for g in grants
            if _manages(table, g.binding.principal)
            and g.permission == Permission.ALLOW
            and not (g.host == ANY_HOST and g.binding in wanted)
        ]
        if missing:
            created = await _send(client, _CreateAcls(missing))
            failed = [(code, text) for code, text in created.creation_responses if code]
            if failed:
                raise KafkaError(f"CreateAcls failed for {len(failed)} grants: {failed[:3]}")
        if stale:
            deleted = await _send(client, _DeleteAcls(stale))
            failed = [(code, text) for code, text, _ in deleted.filter_responses if code]
            if failed:
                raise KafkaError(f"DeleteAcls failed for {len(failed)} grants: {failed[:3]}")
        # The controller has committed them; wait until this broker's authorizer has them too.
        deadline = asyncio.get_running_loop().time() + settle_seconds
        while True:
            grants = await _describe(client)
            held = {g.binding for g in grants if g.permission == Permission.ALLOW}
            leftover = {g for g in grants if g in stale}
            if wanted <= held and not leftover:
                break
            if asyncio.get_running_loop().time() > deadline:
                raise KafkaError(f"the broker did not take the ACLs within {settle_seconds} s")
            await asyncio.sleep(0.1)
    finally:
        await client.close()
    # After the grants: a single node applies metadata in order, and the logs of a few hundred
    # new partitions would hold the grants back for seconds.
    # A topic made with fewer partitions (by an older Tongban, or by hand) is raised to the plan
    # here, before the services start, rather than left narrower than its consumer groups.
    made = {"partitions": partitions, "locality_partitions": locality_partitions}
    await ensure_topics(bootstrap_servers, table.topics, **made, security=security, grow=True)
    # Evidence topics keep every record for good, also where they were made with other settings.
    await keep_retained(bootstrap_servers, table.topics, security=security)
    return AppliedAcls(len(missing), len(stale), len(wanted) - len(missing))


async def broker_acls(
    bootstrap_servers: str, *, security: KafkaSecurity | None = None
) -> list[AclBinding]:
    """The ALLOW grants (any host) the broker holds now, for comparing with the table."""
    client = make_client(bootstrap_servers, security=security)
    await client.bootstrap()
    try:
        grants = await _describe(client)
    finally:
        await client.close()
    return sorted(
        g.binding for g in grants if g.permission == Permission.ALLOW and g.host == ANY_HOST
    )
