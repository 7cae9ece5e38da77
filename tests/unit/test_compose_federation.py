"""The federation gateway in docker-compose.yml (跨省通办, contracts/federation.md): its own
Kafka principal, database and key ring; mutual TLS from files on a volume of their own; the
partners' anchors on a volume nobody else writes, empty until an operator imports one; healthy
over its own TLS."""

from __future__ import annotations

from pathlib import Path

from shared.crypto.workloads import workload_keys
from tests.unit.test_compose import (
    KAFKA_START,
    POSTGRES_INIT,
    SERVICES_OF_COMPOSE,
    environment,
    settings_of,
)
from tooling.federation_pki import gateway_files

GATEWAY = SERVICES_OF_COMPOSE["federation"]


def conditions(name: str) -> dict[str, str]:
    depends = SERVICES_OF_COMPOSE[name]["depends_on"]
    return {target: how["condition"] for target, how in depends.items()}


def mounts(name: str) -> dict[str, str]:
    """Volume → where and how (`path` or `path:ro`) the container mounts it."""
    return {
        str(volume).split(":", 1)[0]: str(volume).split(":", 1)[1]
        for volume in SERVICES_OF_COMPOSE[name].get("volumes", [])
    }


def test_the_gateway_runs_its_module_on_8010_and_is_healthy_over_its_own_tls() -> None:
    assert GATEWAY["entrypoint"] == ["python", "-m", "services.federation"]
    assert GATEWAY["command"] == ["--host", "0.0.0.0", "--port", "8010"]
    assert "8010:8010" in GATEWAY["ports"]
    assert GATEWAY["healthcheck"]["test"] == [
        "CMD",
        "python",
        "-m",
        "services.federation.probe",
        "/readyz",
    ]


def test_the_gateway_is_its_own_kafka_principal_and_database() -> None:
    env = environment("federation")
    assert env["KAFKA_USERNAME"] == "federation"
    assert env["KAFKA_PASSWORD"] == environment("kafka")["KAFKA_FEDERATION_PASSWORD"]
    assert '$(user federation "$KAFKA_FEDERATION_PASSWORD")' in KAFKA_START
    password = environment("postgres")["FEDERATION_DB_PASSWORD"]
    expected = f"postgresql+asyncpg://federation:{password}@postgres:5432/tongban_federation"
    for process in ("federation", "migrate-federation"):
        assert settings_of(process).federation_database() == expected, process
    assert 'create federation "$FEDERATION_DB_PASSWORD" tongban_federation' in POSTGRES_INIT
    assert SERVICES_OF_COMPOSE["migrate-federation"]["command"] == ["migrate", "federation"]
    assert conditions("federation").items() >= {
        ("kafka", "service_healthy"),
        ("kafka-acls", "service_completed_successfully"),
        ("postgres", "service_healthy"),
        ("migrate-federation", "service_completed_successfully"),
        ("federation-tls", "service_completed_successfully"),
    }


def test_its_tls_files_are_the_ones_the_one_shot_makes_mounted_read_only() -> None:
    maker = SERVICES_OF_COMPOSE["federation-tls"]
    assert maker["entrypoint"] == ["python", "-m", "tooling.federation_pki"]
    directory, *flags = maker["command"]
    province = flags[flags.index("--province") + 1]
    assert "federation" in flags[flags.index("--host") + 1 :]  # its name on compose's network
    made = gateway_files(Path(directory), province)
    settings = settings_of("federation")
    assert settings.province.startswith(province)
    assert (settings.federation_tls_cert, settings.federation_tls_key) == (
        str(made.cert),
        str(made.key),
    )
    assert settings.federation_tls_ca == str(made.ca)
    assert mounts("federation-tls") == {"federation-tls": directory}
    assert mounts("federation")["federation-tls"] == f"{directory}:ro"
    holders = [name for name in SERVICES_OF_COMPOSE if "federation-tls" in mounts(name)]
    assert sorted(holders) == ["federation", "federation-tls"]


def test_no_partner_is_trusted_until_an_operator_imports_one() -> None:
    settings = settings_of("federation")
    assert settings.federation_gateway_url.startswith("https://")
    trust_dir = settings.federation_trust_dir
    (volume,) = [v for v, where in mounts("federation").items() if where == trust_dir]
    # Its own volume, which no other container mounts, seeds or writes: empty at first.
    holders = [name for name in SERVICES_OF_COMPOSE if volume in mounts(name)]
    assert holders == ["federation"]
    assert volume not in ("trust", "federation-tls")


def test_its_key_ring_is_its_own_and_holds_the_federation_key() -> None:
    assert mounts("federation")["keys-federation"] == "/var/lib/tongban/keys"
    assert set(workload_keys("federation")) == {"federation"}
    # What it reads from tongban.federation.outgoing is signed by routing's key.
    assert conditions("federation")["routing"] == "service_healthy"
