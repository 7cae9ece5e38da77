"""docker-compose.yml and the Dockerfile, read as files (`make compose-test` runs them): pinned
images, health checks, dependencies that wait for the right thing, and every setting a service
needs outside a developer's machine given to it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import SecretStr

from shared.settings import (
    AUDIT_DATABASE,
    DEFAULT_PORTS,
    DEVELOPMENT_CARRIER_WEBHOOK_SECRET,
    DEVELOPMENT_KEY_RING_SECRET,
    DEVELOPMENT_PII_DIGEST_KEY,
    DEVELOPMENT_SMS_REPORT_SECRET,
    SERVICES,
    ServiceName,
    Settings,
    database_name,
)
from tooling.kafka_principals import ADMIN_PRINCIPAL, AUDIT_WATCH_PRINCIPAL

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
SERVICES_OF_COMPOSE: dict[str, dict[str, Any]] = COMPOSE["services"]
KAFKA_START = (ROOT / "deploy/compose/kafka-start.sh").read_text(encoding="utf-8")
POSTGRES_INIT = (ROOT / "deploy/compose/postgres-init.sh").read_text(encoding="utf-8")
CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}
# Tongban processes that are not one of the four services but read the same settings.
TONGBAN_PROCESSES = (*SERVICES, "carrier", "console", "portal", "consultation", "federation")

_VARIABLE = re.compile(r"\$\{(?P<name>\w+)(?::-(?P<default>[^}]*))?\}")


def interpolate(value: object) -> str:
    """What compose makes of a value with no variables set: ${X:-default} → default."""
    text = str(value)

    def default(match: re.Match[str]) -> str:
        if match["default"] is None:
            raise AssertionError(f"${{{match['name']}}} has no default: {text}")
        return match["default"]

    return _VARIABLE.sub(default, text.replace("$$", "\0")).replace("\0", "$")


def environment(service: str) -> dict[str, str]:
    raw = SERVICES_OF_COMPOSE[service].get("environment") or {}
    assert isinstance(raw, dict), f"{service}: environment as a mapping"
    return {name: interpolate(value) for name, value in raw.items()}


def settings_of(process: str) -> Settings:
    """The process's Settings from its compose environment alone (not this machine's)."""
    return Settings.model_validate(
        {name.lower(): value for name, value in environment(process).items()}
    )


def one_shot(service: str) -> bool:
    return SERVICES_OF_COMPOSE[service].get("restart") == "no"


# --- what a service must be given, derived from shared/settings.py --------------------------

_LOCAL = ("127.0.0.1", "localhost")
_DEVELOPMENT_SECRETS = {
    DEVELOPMENT_KEY_RING_SECRET,
    DEVELOPMENT_PII_DIGEST_KEY,
    DEVELOPMENT_CARRIER_WEBHOOK_SECRET,
    DEVELOPMENT_SMS_REPORT_SECRET,
}
# Settings only some processes read (the others may leave them at their defaults).
_ONLY = {
    "carrier_base_url": {"delivery"},
    "public_base_url": {"delivery"},
    "carrier_webhook_secret": {"delivery", "carrier"},
    # The portal sends texts and takes the gateway's reports; the simulator signs them.
    "sms_gateway_url": {"portal"},
    "sms_report_secret": {"portal", "sms"},
    "blob_store_url": {"intake", "approval"},
    **{f"{service}_url": {"console"} for service in SERVICES},
    # The federation gateway's own (test_compose_federation.py).
    "federation_gateway_url": {"federation"},
    "federation_trust_dir": {"federation"},
    "intake_url": {"console", "portal"},
    "delivery_url": {"console", "portal"},
}
# No unsafe default, but needed against compose's broker (SASL) and for traces.
_ALWAYS = {
    "tongban_env",
    "kafka_security_protocol",
    "kafka_username",
    "kafka_password",
    "otel_exporter_otlp_endpoint",
}


def unsafe_defaults() -> set[str]:
    """Settings fields whose default only works on a developer's machine: a local address, a
    folder relative to the working directory, or a public development secret."""
    unsafe = set()
    for name, field in Settings.model_fields.items():
        default = field.default
        if isinstance(default, SecretStr):
            default = default.get_secret_value()
        if not isinstance(default, str):
            continue
        if (
            any(host in default for host in _LOCAL)
            or default.startswith(".")
            or (default in _DEVELOPMENT_SECRETS)
        ):
            unsafe.add(name)
    return unsafe


def required_settings(process: str) -> set[str]:
    fields = (unsafe_defaults() | _ALWAYS) - {"database_url"}
    if process in SERVICES:
        # Each service's own database on compose's server, instead of the server's URL.
        fields.add(f"{process}_database_url")
    elif process == "carrier":
        # The carrier simulator is no Kafka client; it mints its token with the key ring.
        fields -= {"kafka_username", "kafka_password", "kafka_security_protocol"}
    fields -= {f"{service}_database_url" for service in SERVICES if service != process}
    return {name for name in fields if name not in _ONLY or process in _ONLY[name]}


def test_the_unsafe_defaults_are_the_ones_we_know() -> None:
    # A new setting with a local default shows up here and, through required_settings, in
    # every process's check below.
    assert {
        "kafka_bootstrap_servers",
        "database_url",
        "key_ring_dir",
        "key_ring_secret",
        "pii_digest_key",
        "blob_store_url",
        "public_base_url",
        "carrier_base_url",
        "carrier_webhook_secret",
        "sms_gateway_url",
        "sms_report_secret",
    } <= unsafe_defaults()


@pytest.mark.parametrize("process", TONGBAN_PROCESSES)
def test_every_setting_a_process_needs_is_given(process: str) -> None:
    env = environment(process)
    missing = sorted(
        name.upper() for name in required_settings(process) if not env.get(name.upper())
    )
    assert missing == [], f"{process} is not given {', '.join(missing)}"
    settings = settings_of(process)
    assert settings.key_ring_dir.startswith("/"), "the key ring is on a volume"
    assert settings.trust_list and settings.trust_list.startswith("/var/lib/tongban/trust/")
    assert settings.tongban_env == "development", "compose is for a try-out"
    if settings.blob_store_url.startswith("s3://") and process in ("intake", "approval"):
        url, options = settings.blob_store_options()
        assert url == "s3://tongban-scans"
        assert {"endpoint", "access_key_id", "secret_access_key"} <= set(options)


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_is_its_own_kafka_principal_with_the_password_the_broker_made(
    service: str,
) -> None:
    env = environment(service)
    broker = environment("kafka")
    assert env["KAFKA_USERNAME"] == service
    assert env["KAFKA_PASSWORD"] == broker[f"KAFKA_{service.upper()}_PASSWORD"]
    assert f'$(user {service} "$KAFKA_{service.upper()}_PASSWORD")' in KAFKA_START
    assert env["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_and_its_migration_use_its_own_database_and_role(service: ServiceName) -> None:
    password = environment("postgres")[f"{service.upper()}_DB_PASSWORD"]
    expected = f"postgresql+asyncpg://{service}:{password}@postgres:5432/{database_name(service)}"
    for process in (service, f"migrate-{service}"):
        settings = settings_of(process)
        assert settings.service_database_url(service) == expected, process
    assert "for service in intake routing approval delivery" in POSTGRES_INIT
    assert 'CREATE DATABASE :"database" OWNER :"role"' in POSTGRES_INIT


def test_the_audit_watcher_runs_as_its_own_principal_on_its_own_database_holding_no_key() -> None:
    watcher = SERVICES_OF_COMPOSE["audit-watch"]
    env = environment("audit-watch")
    # Its own Kafka principal, made by the broker (which grants it the checkpoints topic only).
    assert env["KAFKA_USERNAME"] == AUDIT_WATCH_PRINCIPAL
    assert env["KAFKA_PASSWORD"] == environment("kafka")["KAFKA_AUDIT_WATCH_PASSWORD"]
    assert f'$(user {AUDIT_WATCH_PRINCIPAL} "$KAFKA_AUDIT_WATCH_PASSWORD")' in KAFKA_START
    # Its own database and role, made by postgres' init script, not routing's.
    password = environment("postgres")["AUDIT_WATCH_DB_PASSWORD"]
    expected = f"postgresql+asyncpg://audit_watch:{password}@postgres:5432/{AUDIT_DATABASE}"
    settings = settings_of("audit-watch")
    assert settings.audit_watch_database() == expected
    assert 'create audit_watch "$AUDIT_WATCH_DB_PASSWORD" tongban_audit' in POSTGRES_INIT
    # No key ring and none of the services' secrets: the trust list alone, read-only.
    assert watcher["volumes"] == ["trust:/var/lib/tongban/trust:ro"]
    assert settings.trust_list and settings.trust_list.startswith("/var/lib/tongban/trust/")
    assert settings.trust_anchor and settings.trust_anchor.startswith("/var/lib/tongban/trust/")
    held = {"KEY_RING_DIR", "KEY_RING_SECRET", "PII_DIGEST_KEY", "CARRIER_WEBHOOK_SECRET"}
    held |= {"BLOB_STORE_SECRET_ACCESS_KEY", *(f"{s.upper()}_DATABASE_URL" for s in SERVICES)}
    assert not held & set(env)
    assert env["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092" and env["TONGBAN_ENV"] == "development"
    # It follows the checkpoints from the broker's ACLs on, once routing's key is on the list;
    # healthy while its loop touches the heartbeat file it is told.
    conditions = {target: how["condition"] for target, how in watcher["depends_on"].items()}
    assert conditions == {
        "kafka": "service_healthy",
        "kafka-acls": "service_completed_successfully",
        "postgres": "service_healthy",
        "routing": "service_healthy",
    }
    command = watcher["command"]
    assert command[:2] == ["audit", "watch"]
    heartbeat = command[command.index("--heartbeat") + 1]
    assert watcher["healthcheck"]["test"][1:5] == ["python", "-m", "tooling.heartbeat", heartbeat]


def test_the_sms_simulator_holds_no_key_and_signs_with_the_secret_the_portal_reads() -> None:
    sms = SERVICES_OF_COMPOSE["sms"]
    env = environment("sms")
    # What the portal reads with every Tongban process's environment.
    shared = {name: interpolate(value) for name, value in COMPOSE["x-tongban-environment"].items()}
    assert env == {"TONGBAN_ENV": "development", "SMS_REPORT_SECRET": shared["SMS_REPORT_SECRET"]}
    assert env["SMS_REPORT_SECRET"] != DEVELOPMENT_SMS_REPORT_SECRET
    assert "volumes" not in sms and "depends_on" not in sms
    port = str(DEFAULT_PORTS["sms"])
    assert sms["entrypoint"] == ["python", "-m", "tooling.sms_gateway"]
    # Its delivery reports go to the portal's report route.
    report_url = f"http://portal:{DEFAULT_PORTS['portal']}/v1/sms/reports"
    assert sms["command"] == ["--host", "0.0.0.0", "--port", port, "--report-url", report_url]
    assert f"{port}:{port}" in sms["ports"]
    assert f"http://127.0.0.1:{port}/healthz" in " ".join(sms["healthcheck"]["test"])


def test_every_image_is_pinned() -> None:
    for name, service in SERVICES_OF_COMPOSE.items():
        image = service.get("image")
        assert image, f"{name} names its image"
        if "build" in service:
            continue  # Tongban's own image, built from the Dockerfile
        repository, _, tag = image.rpartition(":")
        assert repository and "/" not in tag, f"{name}: {image} has no tag"
        assert tag != "latest" and any(c.isdigit() for c in tag), f"{name}: {image} not pinned"
    images = {service["image"] for service in SERVICES_OF_COMPOSE.values()}
    assert "apache/kafka:3.9.1" in images
    assert any(image.startswith("postgres:16") for image in images)
    assert any(image.startswith("jaegertracing/all-in-one:") for image in images)


def test_every_long_running_container_has_a_health_check() -> None:
    for name, service in SERVICES_OF_COMPOSE.items():
        if one_shot(name):
            assert "healthcheck" not in service, name
            continue
        test = service.get("healthcheck", {}).get("test")
        assert test and test != ["NONE"], f"{name} has no health check"


def test_every_dependency_names_a_service_and_a_condition() -> None:
    for name, service in SERVICES_OF_COMPOSE.items():
        depends = service.get("depends_on", {})
        assert isinstance(depends, dict), f"{name}: depends_on with conditions"
        for target, how in depends.items():
            assert target in SERVICES_OF_COMPOSE, f"{name} depends on unknown {target}"
            condition = how.get("condition")
            assert condition in CONDITIONS, f"{name} → {target}: {condition}"
            if condition == "service_completed_successfully":
                assert one_shot(target), f"{name} waits for {target} to finish, which never does"
            if condition == "service_healthy":
                assert "healthcheck" in SERVICES_OF_COMPOSE[target], (name, target)


def test_migrations_are_one_shot_jobs_one_per_database() -> None:
    for service in SERVICES:
        migration = SERVICES_OF_COMPOSE[f"migrate-{service}"]
        assert one_shot(f"migrate-{service}")
        assert migration["command"] == ["migrate", service]
        assert migration["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert one_shot("kafka-acls")
    assert SERVICES_OF_COMPOSE["kafka-acls"]["command"] == ["kafka-acls", "--apply"]
    assert environment("kafka-acls")["KAFKA_USERNAME"] == ADMIN_PRINCIPAL
    assert (
        environment("kafka-acls")["KAFKA_PASSWORD"] == environment("kafka")["KAFKA_ADMIN_PASSWORD"]
    )


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_waits_for_its_backends_and_is_healthy_when_ready(service: str) -> None:
    definition = SERVICES_OF_COMPOSE[service]
    conditions = {target: how["condition"] for target, how in definition["depends_on"].items()}
    assert conditions["kafka"] == "service_healthy"
    assert conditions["postgres"] == "service_healthy"
    assert conditions["kafka-acls"] == "service_completed_successfully"
    assert conditions[f"migrate-{service}"] == "service_completed_successfully"
    port = DEFAULT_PORTS[service]
    assert definition["command"] == ["serve", service, "--host", "0.0.0.0", "--port", str(port)]
    assert f"http://127.0.0.1:{port}/readyz" in " ".join(definition["healthcheck"]["test"])
    assert f"{port}:{port}" in definition["ports"]
    assert f"keys-{service}:/var/lib/tongban/keys" in definition["volumes"]
    assert "trust:/var/lib/tongban/trust" in definition["volumes"]


def test_every_service_of_the_code_base_runs_in_compose() -> None:
    # A new process under services/ (with its main.py) belongs in the stack too.
    present = {path.parent.name for path in (ROOT / "services").glob("*/main.py")}
    assert "federation" in present
    assert present <= set(SERVICES_OF_COMPOSE), sorted(present - set(SERVICES_OF_COMPOSE))


def test_the_broker_is_secured_like_the_launchers() -> None:
    for line in (
        "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "allow.everyone.if.no.acl.found=false",
        f"super.users=User:{ADMIN_PRINCIPAL}",
        "sasl.enabled.mechanisms=SCRAM-SHA-512",
        "listener.name.controller.sasl.enabled.mechanisms=PLAIN",
        "process.roles=broker,controller",
    ):
        assert line in KAFKA_START, line
    assert f'$(user {ADMIN_PRINCIPAL} "$KAFKA_ADMIN_PASSWORD")' in KAFKA_START
    assert "PLAINTEXT://" not in KAFKA_START.replace("SASL_PLAINTEXT", "")


def _stages(dockerfile: str) -> list[list[str]]:
    stages: list[list[str]] = []
    for line in dockerfile.replace("\\\n", " ").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.upper().startswith("FROM "):
            stages.append([])
        if stages:
            stages[-1].append(line)
    return stages


def test_the_image_is_multi_stage_slim_and_runs_as_a_user() -> None:
    stages = _stages((ROOT / "Dockerfile").read_text(encoding="utf-8"))
    assert len(stages) >= 2
    final = stages[-1]
    assert final[0].split()[1] == "${PYTHON_IMAGE}"
    base = re.search(r"^ARG PYTHON_IMAGE=(\S+)", Path(ROOT / "Dockerfile").read_text(), re.M)
    assert base is not None
    assert re.fullmatch(r"python:3\.11\.\d+-slim(-\w+)?", base[1]), base[1]
    users = [line.split()[1] for line in final if line.upper().startswith("USER ")]
    assert users, "the final stage names a USER"
    assert users[-1].split(":")[0] not in ("root", "0")
    assert any("fonts-noto-cjk" in line for line in final), "delivery prints Chinese"
    assert final[-2:] == ['ENTRYPOINT ["tongban"]', 'CMD ["--help"]']
    dockerignore = (ROOT / ".dockerignore").read_text(encoding="utf-8")
    assert dockerignore.splitlines()[1] == "*", "only what the image needs goes in"


def test_no_two_processes_share_a_key_volume() -> None:
    holders: dict[str, list[str]] = {}
    for name, definition in SERVICES_OF_COMPOSE.items():
        for volume in definition.get("volumes", []):
            source, _, target = str(volume).partition(":")
            if target.startswith("/var/lib/tongban/keys"):
                holders.setdefault(source, []).append(name.removeprefix("migrate-"))
    assert holders
    for source, processes in holders.items():
        assert len(set(processes)) == 1, (source, processes)  # a service and its migration
