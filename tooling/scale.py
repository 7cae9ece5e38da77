"""`make run SCALE=2` (`tongban run --scale 2`): more than one process of each service.

Instance 1 of a service is the stack's own (tooling.stack, port 8001-8004). Instances 2..N run
the same command with the same environment — the same database, the same Kafka principal, the
same consumer groups, so the groups' partitions split between them as between the replicas of a
Kubernetes Deployment — on the port two hundred higher per instance (intake #2 on 8201,
routing #2 on 8202, approval #2 on 8203, delivery #2 on 8204; 8101-8104 are Jiangsu's under
`--provinces 2`). Each is supervised like every other process of `make run` (restarted with
backoff, shown on the console's overview as `intake-2`...).

Approval: every instance serves every locality in one group (`tongban.approval`), and the 121
request topics, one partition each, are split between them topic by topic. Kubernetes runs one
Deployment per city instead (tooling/k8s/approval.py), sixteen groups; sixteen more processes
would not fit a developer's machine, and two instances of one group show the same thing: a
group's topics shared out, a rebalance when one comes or goes.

Windows and the console, the portal and the demo talk to instance 1 (http://127.0.0.1:8001...);
instances 2..N answer the same API on their own ports, for a load balancer in front or a
window pointed at them by hand (benchmarks/scale.py spreads its posts over both intakes).
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx

from shared.reference.localities import get_locality, locality_codes
from tooling.infra import ManagedProcess
from tooling.journey import HOUSEHOLD_REGISTER_SCAN, ID_CARD_SCAN, scan_digest
from tooling.run_options import MAX_SCALE
from tooling.stack_processes import ServiceProcess, until_ready

# The services that run as more than one process (the console, the portal, the simulators, the
# consultation service and the audit watcher stay single).
SCALED = ("intake", "routing", "approval", "delivery")
PORT_STEP = 200  # not 100: Jiangsu's services of `--provinces 2` are on 8101-8104
START_TIMEOUT_SECONDS = 90.0


# 城乡居民参保登记: decided by the applicant's own county and on the province's list of items
# handled anywhere, so any window may take it for anyone: posted for applicants of every county
# in turn, its requests spread over approval's per-locality topics.
SPREAD_ITEM = "YL-CB-001"


def counties(exclude_cities: tuple[str, ...] = ()) -> list[str]:
    """The province's counties (and districts), but those of the cities given (e.g. "3405")."""
    return [
        code
        for code in locality_codes()
        if (place := get_locality(code)) is not None
        and place.level == "county"
        and not code.startswith(exclude_cities)
    ]


def spread_application(applicant: Mapping[str, Any]) -> dict[str, Any]:
    """SPREAD_ITEM for `applicant`, its two materials the sample scans (which the window must
    have uploaded: Journey.upload_sample_scans): competent is the applicant's county."""
    return {
        "item_code": SPREAD_ITEM,
        "applicant": dict(applicant),
        "materials": [
            {"material_code": "M01", "sha256": scan_digest(ID_CARD_SCAN)},
            {"material_code": "M02", "sha256": scan_digest(HOUSEHOLD_REGISTER_SCAN)},
        ],
        "delivery": {"method": "window_pickup"},
    }


def instance_name(service: str, number: int) -> str:
    """`intake` for the first, `intake-2` for the second..."""
    return service if number == 1 else f"{service}-{number}"


def instance_port(port: int, number: int) -> int:
    return port + PORT_STEP * (number - 1)


def extra_instances(
    services: Mapping[str, ServiceProcess], scale: int, log_dir: Path
) -> dict[str, ServiceProcess]:
    """Instances 2..`scale` of each scaled service, not started: the first instance's command
    and environment on a port of their own, each with its own log and pid file."""
    if not 1 <= scale <= MAX_SCALE:
        raise ValueError(f"scale must be between 1 and {MAX_SCALE}, not {scale}")
    extras: dict[str, ServiceProcess] = {}
    for service in SCALED:
        first = services[service]
        for number in range(2, scale + 1):
            name = instance_name(service, number)
            port = instance_port(first.port, number)
            argv = list(first.process.argv)
            argv[argv.index("--port") + 1] = str(port)
            process = ManagedProcess(
                f"{service} service #{number}",
                argv,
                log_path=log_dir / f"{name}.log",
                pid_file=log_dir / f"{name}.pid",
                cwd=first.process.cwd,
                env=first.process.env,
                stop_signal=signal.SIGTERM,
            )
            extras[name] = ServiceProcess(name, port, process)
    return extras


async def wait_ready(instance: ServiceProcess, within: float = START_TIMEOUT_SECONDS) -> None:
    """Until the instance answers /readyz (its consumers started, its database reachable)."""
    async with httpx.AsyncClient(timeout=2) as http:
        await until_ready(
            instance.process,
            http,
            instance.url,
            deadline=time.monotonic() + within,
            not_ready=f"The {instance.name} service was not ready on {instance.url} "
            f"within {within:.0f} s.",
        )


def start_instances(extras: Mapping[str, ServiceProcess]) -> None:
    """Start the extra instances and wait until each is ready."""
    for instance in extras.values():
        instance.process.start()

    async def all_ready() -> None:
        await asyncio.gather(*(wait_ready(instance) for instance in extras.values()))

    asyncio.run(all_ready())
