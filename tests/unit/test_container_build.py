"""What `make compose-test` relies on, checked without an engine: the Dockerfile builds with the
classic builder on either Python base, the CI override names only images the project makes, the
local Kafka image has every script the compose file calls, and every Kubernetes command is one
the image can start (its module exists)."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import yaml

from tooling.compose_test import commands, images

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = (ROOT / "Dockerfile").read_text(encoding="utf-8")


def test_dockerfile_needs_no_buildkit_frontend_and_takes_the_python_base_as_an_argument() -> None:
    assert not DOCKERFILE.startswith("# syntax="), "BuildKit would fetch its frontend"
    assert f"ARG PYTHON_IMAGE={images.OFFICIAL_PYTHON}" in DOCKERFILE
    assert re.findall(r"^FROM (\S+)", DOCKERFILE, re.MULTILINE) == ["${PYTHON_IMAGE}"] * 2


def test_the_builder_can_compile_what_has_no_wheel_and_the_runtime_cannot() -> None:
    builder, runtime = DOCKERFILE.split(" AS runtime")
    assert "gcc" in builder and "libc6-dev" in builder
    assert "gcc" not in runtime
    assert "USER 10001:10001" in runtime


def test_the_ci_override_names_only_images_the_project_makes() -> None:
    base = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    override = yaml.safe_load((ROOT / "docker-compose.ci.yml").read_text(encoding="utf-8"))
    made = {stand_in.tag for stand_in in images.STAND_INS}
    for name, service in override["services"].items():
        assert name in base["services"], f"{name} is not a service of docker-compose.yml"
        assert service["image"] in made, f"{name}: {service['image']} is not made locally"
        official = base["services"][name]["image"]
        assert "tongban" not in official, "users keep the official, pinned images"
    for stand_in in images.STAND_INS:
        assert (images.CI_IMAGES / stand_in.folder / "Dockerfile").is_file()


def test_the_local_kafka_image_has_every_script_compose_calls() -> None:
    called = set(
        re.findall(
            r"/opt/kafka/bin/([\w.-]+\.sh)",
            (ROOT / "docker-compose.yml").read_text(encoding="utf-8")
            + (ROOT / "deploy" / "compose" / "kafka-start.sh").read_text(encoding="utf-8"),
        )
    )
    assert called, "the compose file calls Kafka's scripts"
    shipped = {p.name for p in (images.CI_IMAGES / "kafka" / "bin").glob("*.sh")}
    assert called <= shipped, f"missing from deploy/ci-images/kafka/bin: {called - shipped}"


def test_every_kubernetes_command_names_something_the_image_has() -> None:
    found = list(commands.workload_commands())
    names = {command.where.split(": ")[1].split("/")[1] for command in found}
    expected = {"intake", "routing", "delivery", "portal", "consultation", "federation"}
    assert expected | {"sms-gateway", "audit-watch"} <= names, names
    migrated = {command.argv[2] for command in found if command.argv[1:2] == ("migrate",)}
    assert migrated == expected | {"approval"}, migrated
    for command in found:
        if command.argv[0] == "tongban":
            continue
        assert command.argv[:2] == ("python", "-m"), command
        assert importlib.util.find_spec(command.argv[2]) is not None, command


def test_every_compose_command_of_the_image_is_checked_too() -> None:
    """`make compose-test` starts each of these with --help before `docker-compose up`."""
    found = {
        command.where.removeprefix("docker-compose.yml: "): command.argv
        for command in commands.compose_commands()
    }
    assert found["federation"] == (
        "python",
        "-m",
        "services.federation",
        "--host",
        "0.0.0.0",
        "--port",
        "8010",
    )
    assert found["federation-tls"][:3] == ("python", "-m", "tooling.federation_pki")
    assert found["migrate-federation"] == ("tongban", "migrate", "federation")
    assert found["carrier"][:2] == ("tongban", "carrier-simulator")
    assert {"consultation", "migrate-consultation", "sms", "audit-watch"} <= set(found)
    for argv in found.values():
        if argv[0] != "tongban":
            assert argv[:2] == ("python", "-m"), argv
            assert importlib.util.find_spec(argv[2]) is not None, argv
    every = list(commands.every_command())
    assert len(every) == len({command.argv for command in every})
