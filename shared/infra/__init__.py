"""Local infrastructure: a real Kafka broker and a private PostgreSQL cluster on free ports.

Used by `make run`, `make demo` and the integration test fixtures; `python -m shared.infra`
starts both and prints where they are. See ARCHITECTURE.md, "Real components, and how they start".
"""

from shared.infra._common import InfrastructureError, ManagedProcess, free_ports, stop_processes
from shared.infra.kafka import KAFKA_VERSION, kafka_jars
from shared.infra.launcher import Infrastructure, default_work_dir, local_infrastructure
from shared.infra.postgres import ensure_databases, ensure_databases_async

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
