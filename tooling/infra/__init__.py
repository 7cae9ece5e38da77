"""Local infrastructure: a real Kafka broker and a private PostgreSQL cluster on free ports.

Used by `make run`, `make demo` and the integration test fixtures; `python -m tooling.infra`
starts both and prints where they are. See ARCHITECTURE.md, "Real components, and how they start".
"""

from tooling.infra._common import InfrastructureError, ManagedProcess, free_ports, stop_processes
from tooling.infra.kafka_jars import KAFKA_VERSION, kafka_jars
from tooling.infra.launcher import Infrastructure, default_work_dir, local_infrastructure
from tooling.infra.postgres import ensure_databases, ensure_databases_async

__all__ = [
    "KAFKA_VERSION",
    "Infrastructure",
    "InfrastructureError",
    "ManagedProcess",
    "default_work_dir",
    "ensure_databases",
    "ensure_databases_async",
    "free_ports",
    "kafka_jars",
    "local_infrastructure",
    "stop_processes",
]
