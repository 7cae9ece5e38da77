"""`make run SCALE=2`: the second instance of each service is the first one's command and
environment on its own port (the same database, principal and consumer groups), and the
supervisor watches it like every other process of the stack."""

from __future__ import annotations

import math
import signal
import sys
from pathlib import Path

import pytest

from shared.settings import Settings
from tooling.infra import ManagedProcess
from tooling.scale import SCALED, extra_instances, instance_name
from tooling.stack import RunningStack
from tooling.stack_processes import ServiceProcess

PORTS = {"intake": 8001, "routing": 8002, "approval": 8003, "delivery": 8004}


def first_instances(log_dir: Path) -> dict[str, ServiceProcess]:
    return {
        service: ServiceProcess(
            service,
            port,
            ManagedProcess(
                f"{service} service",
                [sys.executable, "-m", "tooling.cli", "serve", service, "--port", str(port)],
                log_path=log_dir / f"{service}.log",
                pid_file=log_dir / f"{service}.pid",
                cwd=log_dir,
                env={"KAFKA_USERNAME": service, "APPROVAL_CONSUMER_GROUP": "tongban.approval"},
                stop_signal=signal.SIGTERM,
            ),
        )
        for service, port in PORTS.items()
    }


def test_two_instances_of_each_service_on_ports_a_hundred_apart_with_the_same_environment(
    tmp_path: Path,
) -> None:
    services = first_instances(tmp_path)
    extras = extra_instances(services, 2, tmp_path)
    assert set(extras) == {"intake-2", "routing-2", "approval-2", "delivery-2"}
    for service in SCALED:
        second = extras[instance_name(service, 2)]
        assert second.port == PORTS[service] + 200
        assert second.url == f"http://127.0.0.1:{PORTS[service] + 200}"
        argv = second.process.argv
        assert argv[argv.index("--port") + 1] == str(second.port)
        assert (
            argv[: argv.index("--port")] == services[service].process.argv[: argv.index("--port")]
        )
        # Same principal, same consumer groups: the partitions split between the two.
        assert second.process.env == services[service].process.env
        assert second.process.log_path == tmp_path / f"{service}-2.log"
    assert extra_instances(services, 1, tmp_path) == {}
    assert len(extra_instances(services, 3, tmp_path)) == 8
    with pytest.raises(ValueError):
        extra_instances(services, 5, tmp_path)  # more than the busy topics' partitions


def test_the_supervisor_is_given_every_instance(tmp_path: Path) -> None:
    services = first_instances(tmp_path)
    stack = RunningStack(Settings(), services, instances=extra_instances(services, 2, tmp_path))
    names = set(stack.processes())
    assert {"intake", "intake-2", "approval", "approval-2", "delivery-2", "routing-2"} <= names


def test_a_drain_rate_is_taken_between_a_tenth_and_nine_tenths_of_the_backlog() -> None:
    from benchmarks.scale import drain_rate

    # Nothing for a second (the consumers resuming), 100 a second, then a slow tail.
    samples = [(0.0, 0), (1.0, 0), *((1.0 + t / 10, 10 * t) for t in range(1, 91)), (30.0, 100)]
    assert drain_rate(samples, 100) == pytest.approx(100.0)
    assert math.isnan(drain_rate([(0.0, 0), (1.0, 5)], 5))  # too few to tell


def test_the_rounds_alternate_so_neither_configuration_runs_only_early() -> None:
    from benchmarks.scale import alternating

    assert alternating(1) == [1, 2]
    assert alternating(2) == [1, 2, 2, 1]
    assert alternating(3) == [1, 2, 2, 1, 1, 2]
