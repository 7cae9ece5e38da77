"""Local tooling, kept apart from the runtime library that services import (`shared/`).

The infrastructure launcher (Kafka and PostgreSQL on this machine), the process stack of
`make run`, the demo journey, the `tongban` command and the contracts generator. Services never
import this package; it imports them.
"""
