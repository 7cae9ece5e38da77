"""Kafka access of Tongban's principals: the ACL table of this code base (from the table of who
reads what, shared.messaging.readers: no service is imported), and what a local approval system
needs to connect (`tongban kafka-credentials`, `tongban kafka-acls`)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from aiokafka.errors import KafkaError
from rich.console import Console

from shared.messaging.kafka import client_security
from shared.messaging.readers import APPROVAL_GROUP_PREFIX, READERS
from shared.messaging.topics import approval_requests
from shared.reference.localities import get_locality, locality_codes
from shared.settings import get_settings
from tooling.kafka_acl import AclTable, acl_table, apply_acls
from tooling.kafka_principals import locality_group_prefix, locality_principal
from tooling.ports import kafka_port

if TYPE_CHECKING:
    from tooling.infra.kafka_credentials import KafkaCredentials


def approval_group_prefix() -> str:
    """Every approval instance's group id (APPROVAL_CONSUMER_GROUP) must start with this."""
    return APPROVAL_GROUP_PREFIX


def tongban_acl_table() -> AclTable:
    """The grants of the four services (by what each reads: shared.messaging.readers) and of
    every locality's approval system."""
    return acl_table(READERS, locality_codes())


# --- tongban kafka-credentials --------------------------------------------------------------


class UnknownLocality(ValueError):
    """Not a locality whose approval system has a principal."""


@dataclass(frozen=True)
class LocalityAccess:
    """What a locality's own approval system needs to read its requests from the broker."""

    locality: str
    name: str
    bootstrap_servers: str
    security_protocol: str
    sasl_mechanism: str
    username: str
    password: str = field(repr=False)
    topic: str
    group_prefix: str

    @property
    def example_group(self) -> str:
        return f"{self.group_prefix}local"


def locality_access(
    locality: str, credentials: KafkaCredentials, bootstrap_servers: str
) -> LocalityAccess:
    known = get_locality(locality)
    if known is None:
        raise UnknownLocality(
            f"{locality!r} is not a locality code Tongban knows (6 digits, e.g. 340100)"
        )
    principal = locality_principal(locality)
    return LocalityAccess(
        locality=locality,
        name=known.name,
        bootstrap_servers=bootstrap_servers,
        security_protocol=credentials.security_protocol,
        sasl_mechanism=credentials.sasl_mechanism,
        username=principal,
        password=credentials.password(principal),
        topic=approval_requests(locality),
        group_prefix=locality_group_prefix(locality),
    )


def local_bootstrap_servers() -> str:
    """Where `make run` serves Kafka: 127.0.0.1:$KAFKA_PORT (9092)."""
    return f"127.0.0.1:{kafka_port()}"


CREDENTIAL_FORMATS = ("text", "properties", "kcat")


def render_access(access: LocalityAccess, output: str) -> str:
    """`text` for people; `properties` for a Java client (--consumer.config, or the
    Properties of a KafkaConsumer); `kcat` for librdkafka-based ones (`kcat -F FILE`)."""
    if output == "properties":
        jaas = f'{_JAAS_MODULE} required username="{access.username}" password="{access.password}";'
        return "\n".join(
            [
                f"# Tongban: the approval system of {access.locality} ({access.name})",
                f"# Read {access.topic}; group ids must start with {access.group_prefix}",
                f"bootstrap.servers={access.bootstrap_servers}",
                f"security.protocol={access.security_protocol}",
                f"sasl.mechanism={access.sasl_mechanism}",
                f"sasl.jaas.config={jaas}",
                f"group.id={access.example_group}",
                "",
            ]
        )
    if output == "kcat":
        return "\n".join(
            [
                f"# Tongban: the approval system of {access.locality} ({access.name})",
                f"# kcat -F THIS_FILE -C -t {access.topic}  "
                f"(-G {access.example_group} {access.topic} for a group)",
                f"bootstrap.servers={access.bootstrap_servers}",
                f"security.protocol={access.security_protocol}",
                f"sasl.mechanisms={access.sasl_mechanism}",
                f"sasl.username={access.username}",
                f"sasl.password={access.password}",
                "",
            ]
        )
    if output != "text":
        raise ValueError(f"format must be one of {', '.join(CREDENTIAL_FORMATS)}")
    rows = [
        ("bootstrap servers", access.bootstrap_servers),
        ("security protocol", access.security_protocol),
        ("SASL mechanism", access.sasl_mechanism),
        ("username", access.username),
        ("password", access.password),
        ("topic (read only)", access.topic),
        ("consumer groups", f"{access.group_prefix}*  (e.g. {access.example_group})"),
    ]
    lines = [f"Kafka access of the approval system of {access.locality} ({access.name}):"]
    lines += [f"  {label:<18} {value}" for label, value in rows]
    return "\n".join(lines) + "\n"


_JAAS_MODULE = "org.apache.kafka.common.security.scram.ScramLoginModule"


# --- the commands (registered in tooling.cli) -----------------------------------------------

_err = Console(stderr=True)


def credentials_command(
    locality: Annotated[str, typer.Option(help="6-digit code of the locality, e.g. 340100")],
    output: Annotated[
        str,
        typer.Option(
            "--format", help="text, properties (Java clients) or kcat (librdkafka: kcat -F)"
        ),
    ] = "text",
    bootstrap_servers: Annotated[
        str | None,
        typer.Option(help="Where the approval system reaches Kafka; default 127.0.0.1:KAFKA_PORT"),
    ] = None,
    work_dir: Annotated[
        Path | None, typer.Option(help="The launcher's work directory (.tongban/infra)")
    ] = None,
) -> None:
    """Print what one locality's approval system needs to read its requests from Kafka.

    The broker of `make run`: address, protocol, mechanism, the locality's username and
    password, its topic and the prefix of its consumer groups."""
    if output not in CREDENTIAL_FORMATS:
        _err.print(f"--format must be one of {', '.join(CREDENTIAL_FORMATS)}", markup=False)
        raise typer.Exit(1)
    # Here, not at the top: the launcher's credentials file is the local broker's, and the
    # production image's commands (tongban serve, tongban kafka-acls) import no launcher.
    from tooling.infra import InfrastructureError, default_work_dir
    from tooling.infra.kafka_credentials import KafkaCredentials

    try:
        credentials = KafkaCredentials.load(work_dir or default_work_dir())
        access = locality_access(
            locality, credentials, bootstrap_servers or local_bootstrap_servers()
        )
    except (UnknownLocality, InfrastructureError) as error:
        _err.print(str(error), style="red", markup=False, highlight=False)
        raise typer.Exit(1) from error
    typer.echo(render_access(access, output), nl=False)


def acls_command(
    apply: Annotated[
        bool,
        typer.Option(
            "--apply",
            help="Apply the table (and create its topics) on the broker of KAFKA_BOOTSTRAP_SERVERS "
            "as KAFKA_USERNAME, who must be a super user",
        ),
    ] = False,
    principal: Annotated[str | None, typer.Option(help="Only this principal's grants")] = None,
) -> None:
    """Print the Kafka ACL table, or --apply it to a broker.

    Who may read and write which topic and use which consumer group. Applying adds the missing
    grants, removes stray grants of the table's principals and creates the topics."""
    table = tongban_acl_table()
    if not apply:
        typer.echo(table.render(principal))
        return
    settings = get_settings()
    try:
        applied = asyncio.run(
            apply_acls(
                settings.kafka_bootstrap_servers,
                table,
                security=client_security(settings),
                partitions=settings.kafka_topic_partitions,
                locality_partitions=settings.kafka_locality_topic_partitions,
            )
        )
    except (KafkaError, OSError, ValueError) as error:
        _err.print(
            f"Applying the ACL table to {settings.kafka_bootstrap_servers} failed: {error!r}",
            style="red",
            markup=False,
            highlight=False,
        )
        raise typer.Exit(1) from error
    typer.echo(
        f"{settings.kafka_bootstrap_servers}: {applied.created} grant(s) added, "
        f"{applied.removed} removed, {applied.unchanged} already there; "
        f"{len(table.topics)} topics ensured."
    )
