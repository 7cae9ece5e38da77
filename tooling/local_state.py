"""Where the `tongban` commands find this machine's local stack, from wherever they are run.

`make run` (tooling.stack) writes down where its PostgreSQL and Kafka listen (free ports, not
5432), its key ring and its services in `.tongban/stack.json` of the repository this package
is in, and removes the file when it stops. A command reads its settings from the environment
(and `.env`) as the services do; what the environment leaves unset comes from that file while
the stack that wrote it runs: its database server, its broker (as the launcher's admin), its
key ring. A relative KEY_RING_DIR default is taken from the repository, never from the working
directory: a key ring made elsewhere signs tokens every service refuses.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from shared.i18n import _
from shared.settings import Settings, get_settings

REPO_ROOT = Path(__file__).resolve().parents[1]
# Where a test (or a stack run from another checkout) keeps the file instead.
STATE_FILE_VARIABLE = "TONGBAN_STACK_FILE"


class LocalStateMissing(RuntimeError):
    """What a command needs from the local stack is not there; the message says what to set."""


@dataclass(frozen=True)
class LocalStack:
    """What `make run` writes down while it runs."""

    pid: int
    kafka_bootstrap_servers: str
    database_url: str
    # The launcher's work directory (its Kafka secret): the tools act as its admin principal.
    infra_dir: str | None
    # Further Settings fields its services run with (tongban_env, key_ring_dir, ...).
    settings: dict[str, str] = field(default_factory=dict)
    urls: dict[str, str] = field(default_factory=dict)

    def alive(self) -> bool:
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True


def in_repository() -> bool:
    """Whether this package runs from a checkout (not from an installed image)."""
    return (REPO_ROOT / "pyproject.toml").is_file() and (REPO_ROOT / "services").is_dir()


def state_file() -> Path:
    return Path(os.environ.get(STATE_FILE_VARIABLE) or REPO_ROOT / ".tongban" / "stack.json")


def record(stack: LocalStack, path: Path | None = None) -> Path:
    """Write `stack` down (mode 600: it names the launcher's secret's folder)."""
    path = path or state_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        json.dump(asdict(stack), file, indent=2)
    temporary.replace(path)
    return path


def forget(path: Path | None = None) -> None:
    """Remove what this process wrote down (a file of another launcher stays)."""
    path = path or state_file()
    with contextlib.suppress(OSError, ValueError):
        if json.loads(path.read_text()).get("pid") == os.getpid():
            path.unlink()


def running_stack(path: Path | None = None) -> LocalStack | None:
    """The stack written down, if its launcher still runs."""
    try:
        written = json.loads((path or state_file()).read_text())
        stack = LocalStack(**written)
    except (OSError, ValueError, TypeError):
        return None
    return stack if stack.alive() else None


def cli_settings() -> Settings:
    """The environment's settings, completed from the running local stack and the repository
    (see the module's docstring)."""
    settings = get_settings()
    given = settings.model_fields_set
    update: dict[str, Any] = {}
    stack = running_stack()
    if stack is not None:
        found = {
            "kafka_bootstrap_servers": stack.kafka_bootstrap_servers,
            "database_url": stack.database_url,
            **stack.settings,
        }
        update |= {name: value for name, value in found.items() if name not in given}
        if "kafka_username" not in given and "kafka_bootstrap_servers" in update:
            update |= _launcher_admin(stack)
    if "key_ring_dir" not in given and "key_ring_dir" not in update:
        update["key_ring_dir"] = str(_repository_key_ring(settings.key_ring_dir))
    return settings.model_copy(update=update)


def _launcher_admin(stack: LocalStack) -> dict[str, Any]:
    # Here, not at the top: the production image's commands import no launcher.
    from tooling.infra import InfrastructureError
    from tooling.infra.kafka_credentials import KafkaCredentials

    if stack.infra_dir is None:
        return {}
    try:
        return KafkaCredentials.load(Path(stack.infra_dir)).settings()
    except InfrastructureError:
        return {}


def _repository_key_ring(default: str) -> Path:
    if Path(default).is_absolute():
        return Path(default)
    if not in_repository():
        raise LocalStateMissing(
            _(
                "No key ring: this tongban is not in a repository and KEY_RING_DIR is not set; "
                "set KEY_RING_DIR to the services' key ring."
            )
        )
    return REPO_ROOT / default


def database_hint() -> str:
    """One line on how a command finds the database, for when it found none."""
    return _("Run it while `make run` is up (it is found from any directory), or set DATABASE_URL.")


def kafka_hint() -> str:
    """One line on how a command finds Kafka, for when it found none."""
    return _(
        "Run it while `make run` is up (it is found from any directory), or set "
        "KAFKA_BOOTSTRAP_SERVERS (and KAFKA_USERNAME, KAFKA_PASSWORD)."
    )
