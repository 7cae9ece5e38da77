"""The local infrastructure launcher starts a real broker and cluster, and leaves nothing behind."""

from __future__ import annotations

import asyncio
import os
import socket
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from shared.messaging.kafka import KafkaSecurity, make_consumer, make_producer
from shared.messaging.topics import approval_requests
from tooling.infra import Infrastructure, ensure_databases, local_infrastructure
from tooling.infra.kafka_credentials import SECRET_FILE
from tooling.kafka_access import tongban_acl_table

pytestmark = pytest.mark.integration

TOPIC = "tongban.test.infra"


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _process_group(pgid: int) -> list[int]:
    """Live (non-zombie) processes in a process group."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(entry.name))
    return members


def _recorded_pid(work_dir: Path, name: str) -> int:
    (pid_file,) = work_dir.glob(f"run-*/{name}.pid")
    return int(pid_file.read_text().split()[0])


async def _round_trip(
    bootstrap_servers: str, security: KafkaSecurity
) -> tuple[bytes | None, dict[str, int]]:
    producer = make_producer(bootstrap_servers, client_id="test-infra", security=security)
    await producer.start()
    try:
        await producer.send_and_wait(TOPIC, b'{"hello": "world"}', key=b"TB-0001")
        # The ACL table's topics were made with the infrastructure: four partitions, one for
        # each topic of a per-locality family (hundreds of them are read together).
        partitions = {
            topic: len(await producer.partitions_for(topic))
            for topic in (TOPIC, "tongban.intake.events", approval_requests("340104"))
        }
    finally:
        await producer.stop()
    consumer = make_consumer(
        bootstrap_servers,
        [TOPIC],
        group_id="tongban.test.infra",
        client_id="test-infra",
        security=security,
    )
    await consumer.start()
    try:
        record = await asyncio.wait_for(consumer.getone(), 30)
        await consumer.commit()
    finally:
        await consumer.stop()
    return record.value, partitions


async def _current_database(database_url: str, name: str) -> str:
    url = make_url(database_url).set(drivername="postgresql", database=name)
    connection = await asyncpg.connect(url.render_as_string(hide_password=False))
    try:
        return str(await connection.fetchval("SELECT current_database()"))
    finally:
        await connection.close()


def test_starts_kafka_and_postgres_and_stops_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    work_dir = tmp_path / "infra"

    with local_infrastructure(work_dir, acl_table=tongban_acl_table()) as infrastructure:
        host, _, kafka_port = infrastructure.kafka_bootstrap_servers.rpartition(":")
        assert host == "127.0.0.1"
        url = make_url(infrastructure.database_url)
        assert (url.drivername, url.username, url.host, url.database) == (
            "postgresql+asyncpg",
            "tongban",
            "127.0.0.1",
            "postgres",
        )
        assert url.port is not None
        ports = [int(kafka_port), url.port]
        broker_pid = _recorded_pid(work_dir, "kafka")
        postmaster_pid = _recorded_pid(work_dir, "postgres")
        assert _process_group(broker_pid) and _process_group(postmaster_pid)
        assert (work_dir / "kafka.log").exists() and (work_dir / "postgres.log").exists()

        credentials = infrastructure.kafka_credentials
        assert credentials is not None
        admin = credentials.client_security()
        value, partitions = asyncio.run(_round_trip(infrastructure.kafka_bootstrap_servers, admin))
        assert value == b'{"hello": "world"}'
        assert partitions == {
            TOPIC: 4,
            "tongban.intake.events": 4,
            approval_requests("340104"): 1,
        }
        # The secret the passwords come from is the user's alone.
        assert (work_dir / SECRET_FILE).stat().st_mode & 0o777 == 0o600

        names = ["tongban_test_intake", "tongban_test_routing"]
        ensure_databases(infrastructure.database_url, names)
        ensure_databases(infrastructure.database_url, names)  # already there: a no-op
        assert asyncio.run(_current_database(infrastructure.database_url, names[0])) == names[0]

    for port in ports:
        assert not _accepts(port), f"port {port} still accepts connections"
    for pid in (broker_pid, postmaster_pid):
        assert _process_group(pid) == [], f"process group {pid} survived the stop"
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert list(work_dir.glob("run-*")) == [], "the run directory was not removed"
    broker_log = (work_dir / "kafka.log").read_text()
    assert "Kafka Server started" in broker_log
    assert credentials.password("tongban-admin") not in broker_log
    assert credentials.password("approval-340100") not in broker_log
    assert (work_dir / "postgres.log").read_text()


def test_uses_what_the_environment_provides(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "kafka.example:9092")
    monkeypatch.setenv("DATABASE_URL", "postgresql+asyncpg://tongban@db.example:5432/postgres")
    with local_infrastructure(tmp_path / "infra", acl_table=tongban_acl_table()) as infrastructure:
        assert infrastructure == Infrastructure(
            "kafka.example:9092", "postgresql+asyncpg://tongban@db.example:5432/postgres"
        )
    assert not (tmp_path / "infra").exists(), "nothing is started, so nothing is written"
