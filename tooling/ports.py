"""Where `make run` serves the stack on this machine: Kafka and each service's port.

Its own module because both the stack (which starts them) and `tongban kafka-credentials`
(which tells a local approval system where Kafka is) read it.
"""

from __future__ import annotations

import os

from shared.settings import DEFAULT_PORTS

# Where `make run` serves Kafka, so a local approval system can be pointed at it once.
DEFAULT_KAFKA_PORT = 9092


def kafka_port() -> int:
    """127.0.0.1:9092 unless KAFKA_PORT says otherwise (0: any free port)."""
    return int(os.environ.get("KAFKA_PORT", DEFAULT_KAFKA_PORT))


def service_ports() -> dict[str, int]:
    """127.0.0.1:8001-8006 and 8008 (the SMS gateway simulator) unless INTAKE_PORT, ROUTING_PORT,
    ..., CARRIER_PORT, CONSOLE_PORT, SMS_PORT say otherwise."""
    return {
        name: int(os.environ.get(f"{name.upper()}_PORT", port))
        for name, port in DEFAULT_PORTS.items()
    }


# `make run PROVINCES=2`: the second province (Jiangsu, 320000) on this machine, beside Anhui's
# 8001-8011 and 9092: its services at 81xx and its gateway at 8110 (Anhui's 8010 + 100), its
# broker at 9192. JIANGSU_INTAKE_PORT, ..., JIANGSU_FEDERATION_PORT, JIANGSU_KAFKA_PORT move them
# (0 for the broker: any free port).
SECOND_PROVINCE_PORTS: dict[str, int] = {
    "intake": 8101,
    "routing": 8102,
    "approval": 8103,
    "delivery": 8104,
    "federation": 8110,
}
SECOND_PROVINCE_KAFKA_PORT = 9192


def second_province_ports() -> dict[str, int]:
    return {
        name: int(os.environ.get(f"JIANGSU_{name.upper()}_PORT", port))
        for name, port in SECOND_PROVINCE_PORTS.items()
    }


def second_province_kafka_port() -> int:
    return int(os.environ.get("JIANGSU_KAFKA_PORT", SECOND_PROVINCE_KAFKA_PORT))
