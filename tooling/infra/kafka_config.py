"""The local broker's configuration: its server.properties (SASL/SCRAM listeners, the controller
listener, deny-by-default authorization, sizes for one small machine), its log4j settings, and
the cluster id it is formatted with."""

from __future__ import annotations

import base64
import secrets
from pathlib import Path

from tooling.infra.kafka_credentials import KafkaCredentials
from tooling.kafka_principals import ADMIN_PRINCIPAL

LOG4J_PROPERTIES = """\
log4j.rootLogger=INFO, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
# As in Kafka's own log4j.properties: per-request and partition state chatter only helps when
# debugging the broker itself.
log4j.logger.kafka.request.logger=WARN
log4j.logger.state.change.logger=WARN
"""


def random_cluster_id() -> str:
    """What `kafka-storage random-uuid` prints, without starting a JVM for it."""
    # org.apache.kafka.common.Uuid.randomUuid: 16 random bytes, URL-safe base64 without padding,
    # never the reserved zero/one ids and never starting with '-' (it would read as an option).
    while True:
        raw = secrets.token_bytes(16)
        text = base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")
        if not text.startswith("-") and raw not in (bytes(16), bytes(15) + b"\x01"):
            return text


def _escape_property(value: str) -> str:
    return value.replace("\\", "\\\\")


def properties_text(properties: dict[str, str]) -> str:
    """A .properties file of `properties`, one `key=value` a line."""
    return "".join(f"{key}={_escape_property(value)}\n" for key, value in properties.items())


def _jaas(module: str, **options: str) -> str:
    pairs = " ".join(f'{name}="{value}"' for name, value in options.items())
    return f"{module} required {pairs};"


def _security_properties(
    port: int, controller_port: int, credentials: KafkaCredentials
) -> dict[str, str]:
    admin = ADMIN_PRINCIPAL
    password = credentials.password(admin)
    scram = credentials.sasl_mechanism
    return {
        "listeners": (
            f"SASL_PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}"
        ),
        "advertised.listeners": f"SASL_PLAINTEXT://127.0.0.1:{port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "SASL_PLAINTEXT",
        "listener.security.protocol.map": (
            "SASL_PLAINTEXT:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT"
        ),
        # Clients: SCRAM, checked against the credentials in the cluster metadata. The node
        # talks to itself as the admin.
        "listener.name.sasl_plaintext.sasl.enabled.mechanisms": scram,
        "sasl.mechanism.inter.broker.protocol": scram,
        f"listener.name.sasl_plaintext.{scram.lower()}.sasl.jaas.config": _jaas(
            "org.apache.kafka.common.security.scram.ScramLoginModule",
            username=admin,
            password=password,
        ),
        # The controller listener cannot use SCRAM (its credentials live in the metadata the
        # controller serves), so PLAIN with the admin as its one static user: no anonymous
        # connection reaches the controller, let alone as a super user.
        "listener.name.controller.sasl.enabled.mechanisms": "PLAIN",
        "sasl.mechanism.controller.protocol": "PLAIN",
        "listener.name.controller.plain.sasl.jaas.config": _jaas(
            "org.apache.kafka.common.security.plain.PlainLoginModule",
            username=admin,
            password=password,
            **{f"user_{admin}": password},
        ),
        # Deny by default; the admin alone may do anything without an ACL.
        "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "allow.everyone.if.no.acl.found": "false",
        "super.users": f"User:{admin}",
    }


def server_properties(
    directory: Path, *, port: int, controller_port: int, credentials: KafkaCredentials
) -> dict[str, str]:
    """The broker's server.properties: one node, broker and controller, secured with
    `credentials` (the admin is the only super user), its data under `directory`."""
    return {
        "process.roles": "broker,controller",
        "node.id": "1",
        **_security_properties(port, controller_port, credentials),
        # KIP-853 dynamic quorum, formatted with --standalone: this node is the only voter.
        "controller.quorum.bootstrap.servers": f"127.0.0.1:{controller_port}",
        "log.dirs": str(directory / "data"),
        "num.partitions": "4",  # as Settings.kafka_topic_partitions
        "default.replication.factor": "1",
        "min.insync.replicas": "1",
        "auto.create.topics.enable": "true",
        "offsets.topic.replication.factor": "1",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "group.initial.rebalance.delay.ms": "0",
        # The first consumer group creates __consumer_offsets (50 partitions by default)
        # and the first transactional producer __transaction_state; ten each is plenty
        # for one machine and makes that first join about half a second quicker here.
        "offsets.topic.num.partitions": "10",
        "transaction.state.log.num.partitions": "10",
        # Defaults sized for a server; a 2-core dev box or CI runner starts quicker with fewer
        # threads, and the log cleaner's 128 MiB dedupe buffer is wasted on test volumes.
        "num.network.threads": "2",
        # One I/O thread per core: more only switch between each other on 2 cores.
        "num.io.threads": "2",
        "background.threads": "2",
        # One node, its own only voter: the active controller's no-op record every 500 ms (a
        # metadata log append and flush, there to show other nodes it is alive) has nobody to
        # show it to; every 5 s is plenty.
        "metadata.max.idle.interval.ms": "5000",
        "log.cleaner.dedupe.buffer.size": str(16 * 1024 * 1024),
    }
