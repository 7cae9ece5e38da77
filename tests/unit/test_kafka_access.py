"""`tongban kafka-credentials`: what a locality's approval system is told about the Kafka of
`make run`, and the refusals."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from tooling.cli import app
from tooling.infra.kafka_credentials import KafkaCredentials

runner = CliRunner()


@pytest.fixture
def work_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("KAFKA_PORT", raising=False)
    KafkaCredentials.load_or_create(tmp_path)
    return tmp_path


def credentials(work_dir: Path, *arguments: str) -> tuple[int, str]:
    result = runner.invoke(app, ["kafka-credentials", "--work-dir", str(work_dir), *arguments])
    return result.exit_code, result.output


def test_prints_the_localitys_principal_its_topic_and_groups(work_dir: Path) -> None:
    code, output = credentials(work_dir, "--locality", "340100")
    assert code == 0, output
    password = KafkaCredentials.load(work_dir).password("approval-340100")
    fields = dict(line.strip().split(None, 2)[-2:] for line in output.splitlines()[1:])
    assert "bootstrap servers  127.0.0.1:9092" in output
    assert "security protocol  SASL_PLAINTEXT" in output
    assert "SASL mechanism     SCRAM-SHA-512" in output
    assert fields["username"] == "approval-340100"
    assert fields["password"] == password
    assert "topic (read only)  tongban.approval.requests.340100" in output
    assert "approval-340100.*" in output
    # Stable: the same secret gives the same password on the next run.
    assert credentials(work_dir, "--locality", "340100") == (0, output)


def test_properties_for_a_java_client_and_kcat(
    work_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KAFKA_PORT", "19092")
    password = KafkaCredentials.load(work_dir).password("approval-340200")
    code, output = credentials(work_dir, "--locality", "340200", "--format", "properties")
    assert code == 0, output
    properties = dict(
        line.split("=", 1) for line in output.splitlines() if line and not line.startswith("#")
    )
    assert properties == {
        "bootstrap.servers": "127.0.0.1:19092",
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.jaas.config": "org.apache.kafka.common.security.scram.ScramLoginModule required "
        f'username="approval-340200" password="{password}";',
        "group.id": "approval-340200.local",
    }
    code, output = credentials(
        work_dir, "--locality", "340200", "--format", "kcat", "--bootstrap-servers", "k:9093"
    )
    assert code == 0, output
    properties = dict(
        line.split("=", 1) for line in output.splitlines() if line and not line.startswith("#")
    )
    assert properties == {
        "bootstrap.servers": "k:9093",
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanisms": "SCRAM-SHA-512",
        "sasl.username": "approval-340200",
        "sasl.password": password,
    }


def test_each_locality_has_its_own_password(work_dir: Path) -> None:
    keys = KafkaCredentials.load(work_dir)
    assert keys.password("approval-340100") != keys.password("approval-340200")
    assert KafkaCredentials.load_or_create(work_dir) == keys  # made once, then kept


def test_an_unknown_locality_is_an_error(work_dir: Path) -> None:
    for locality in ("999999", "hefei"):
        code, output = credentials(work_dir, "--locality", locality)
        assert code == 1
        assert "not a locality code" in output


def test_without_a_secret_it_says_how_to_get_one(tmp_path: Path) -> None:
    code, output = credentials(tmp_path, "--locality", "340100")
    assert code == 1
    assert "make run" in output


def test_an_unknown_format_is_an_error(work_dir: Path) -> None:
    code, output = credentials(work_dir, "--locality", "340100", "--format", "yaml")
    assert code == 1 and "--format" in output


def test_kafka_acls_prints_the_table_of_one_principal() -> None:
    result = runner.invoke(app, ["kafka-acls", "--principal", "approval-340100"])
    assert result.exit_code == 0, result.output
    assert result.output.split() == [
        *("approval-340100", "READ", "topic", "tongban.approval.requests.340100"),
        *("approval-340100", "READ", "group", "approval-340100.", "(prefix)"),
    ]
