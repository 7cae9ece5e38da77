"""The local broker's principals and their passwords (SASL/SCRAM-SHA-512): derived from a secret
made once in the launcher's work directory, and handed to clients as settings, environment
variables or aiokafka's arguments."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from shared.messaging.kafka import KafkaSecurity
from tooling.infra._common import InfrastructureError
from tooling.kafka_principals import ADMIN_PRINCIPAL

# The client listener: SASL/SCRAM over plain TCP on 127.0.0.1 (the hash is SHA-512; aiokafka,
# librdkafka/kcat and the Java client all speak it). Credentials live in the cluster metadata,
# written when the log directory is formatted.
SECURITY_PROTOCOL = "SASL_PLAINTEXT"
SASL_MECHANISM = "SCRAM-SHA-512"
SECRET_FILE = "kafka-secret"
_SCRAM_ITERATIONS = 4096  # Kafka's minimum and default for SCRAM-SHA-512


@dataclass(frozen=True)
class KafkaCredentials:
    """The passwords of the launcher's broker: each principal's is an HMAC of its name under a
    local secret, generated once and kept in the launcher's work directory (mode 600), so they
    stay the same from one `make run` to the next and are never written anywhere else."""

    secret: bytes = field(repr=False)
    security_protocol: str = SECURITY_PROTOCOL
    sasl_mechanism: str = SASL_MECHANISM

    @classmethod
    def load_or_create(cls, work_dir: Path) -> KafkaCredentials:
        path = work_dir / SECRET_FILE
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return cls.load(work_dir)
        with os.fdopen(descriptor, "w") as file:
            file.write(secrets.token_hex(32) + "\n")
        return cls.load(work_dir)

    @classmethod
    def load(cls, work_dir: Path) -> KafkaCredentials:
        path = work_dir / SECRET_FILE
        try:
            text = path.read_text().strip()
        except FileNotFoundError as error:
            raise InfrastructureError(
                f"No Kafka credentials yet ({path} is missing): they are made by the first "
                "`make run`."
            ) from error
        if len(text) < 32:
            raise InfrastructureError(f"{path} does not hold a usable secret; remove it.")
        return cls(text.encode("ascii"))

    def password(self, principal: str) -> str:
        digest = hmac.new(self.secret, f"kafka:{principal}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")

    def settings(self, principal: str = ADMIN_PRINCIPAL) -> dict[str, Any]:
        """Fields of shared.settings.Settings that make a process `principal` on this broker."""
        return {
            "kafka_security_protocol": self.security_protocol,
            "kafka_sasl_mechanism": self.sasl_mechanism,
            "kafka_username": principal,
            "kafka_password": SecretStr(self.password(principal)),
        }

    def environment(self, principal: str) -> dict[str, str]:
        """The same as environment variables, for a service process."""
        return {
            "KAFKA_SECURITY_PROTOCOL": self.security_protocol,
            "KAFKA_SASL_MECHANISM": self.sasl_mechanism,
            "KAFKA_USERNAME": principal,
            "KAFKA_PASSWORD": self.password(principal),
        }

    def client_security(self, principal: str = ADMIN_PRINCIPAL) -> KafkaSecurity:
        """aiokafka's keyword arguments for a client that is `principal`."""
        return {
            "security_protocol": self.security_protocol,
            "sasl_mechanism": self.sasl_mechanism,
            "sasl_plain_username": principal,
            "sasl_plain_password": self.password(principal),
        }

    def scram_argument(self, principal: str) -> str:
        """StorageTool's --add-scram value that creates `principal` at format time."""
        return (
            f"{self.sasl_mechanism}=[name={principal},password={self.password(principal)},"
            f"iterations={_SCRAM_ITERATIONS}]"
        )
