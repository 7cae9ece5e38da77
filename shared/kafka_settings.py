"""The Kafka settings of every process (where the broker is, how a client authenticates, how
topics are made and consumer groups kept), a part of shared.settings.Settings kept in a module
of their own."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings


class KafkaSettings(BaseSettings):
    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    # How every Kafka client of the process authenticates (shared.messaging.kafka.client_security).
    # PLAINTEXT keeps an existing unsecured broker working; the launcher's broker (`make run`,
    # the tests) takes SASL_PLAINTEXT with SCRAM-SHA-512 and one principal per service.
    kafka_security_protocol: Literal["PLAINTEXT", "SASL_PLAINTEXT", "SASL_SSL", "SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: Literal["SCRAM-SHA-256", "SCRAM-SHA-512", "PLAIN"] = "SCRAM-SHA-512"
    kafka_username: str | None = None
    kafka_password: SecretStr | None = None
    # CA bundle to verify the broker's certificate (SSL, SASL_SSL); none: the system's CAs.
    kafka_ssl_cafile: str | None = None

    # Every province-wide topic (intake's, routing's, approval's events, the federation's...):
    # at least four partitions, each record keyed by its application number, so one
    # application's events stay in order on one partition while up to four instances of a
    # consumer group share the topic (`make run SCALE=2`, the Deployments' replicas).
    kafka_topic_partitions: int = Field(default=4, ge=1)
    # A consumer that sent no heartbeat this long leaves its group, its partitions given to the
    # other members (Kafka's default, 10 s). `make bench BENCH_ARGS=--scale` raises it, so that
    # an instance paused while a backlog builds keeps its partitions (benchmarks/scale.py).
    kafka_session_timeout_ms: int = Field(default=10000, ge=6000, le=300000)
    # Each topic of a per-locality family (approval's requests, one per locality): one
    # partition, as hundreds of them are read together (shared.messaging.kafka.topic_partitions).
    kafka_locality_topic_partitions: int = Field(default=1, ge=1)
