"""The Java example of contracts/examples/java, built with Maven and run against the real
stack: a local approval system written from contracts/ alone (kafka-clients over SASL/SCRAM,
BouncyCastle for SM2, the JDK's HttpClient with its defaults, which offer h2c) verifies the
published vectors, reads its locality's topic and verifies every record (a forged one is
named untrusted), is refused on another locality's topic, and approves through REST; intake
then shows the application approved. Its output is kept in test-artifacts/java-example.log."""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer

from shared.messaging import topics
from tests import factories
from tests.harness import Stack, header, read_topic
from tooling.infra import Infrastructure
from tooling.journey import household_application
from tooling.kafka_access import locality_access, render_access

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = REPO_ROOT / "contracts" / "examples" / "java"
VECTORS = REPO_ROOT / "contracts" / "vectors" / "signatures.json"
MAIN_CLASS = "gov.tongban.example.LocalApproval"
# What the Java program printed, kept for whoever reads a CI run.
ARTIFACT = REPO_ROOT / "test-artifacts" / "java-example.log"
HEFEI, WUHU = "340100", "340200"


async def run(
    *command: str, cwd: Path | None = None, env: dict[str, str] | None = None, within: float = 900
) -> tuple[int, str]:
    """Run a process without holding up the event loop the stack's services run in (a blocked
    loop misses Kafka heartbeats); its exit code and output."""
    process = await asyncio.create_subprocess_exec(
        *command,
        cwd=cwd,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=within)
    assert process.returncode is not None
    return process.returncode, output.decode()


async def maven_compile(project: Path) -> None:
    """`mvn compile` offline when ~/.m2 already holds every artifact, else from Maven Central
    (a fresh machine: the first run downloads, later ones are offline)."""
    maven = shutil.which("mvn")
    assert maven, "Maven is needed to build contracts/examples/java (apt-get install maven)"
    offline, _ = await run(maven, "-q", "-B", "-o", "compile", cwd=project)
    if offline == 0:
        return
    online, output = await run(maven, "-q", "-B", "compile", cwd=project)
    assert online == 0, output


@pytest.fixture(scope="module")
async def java_command(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """`java -cp ... LocalApproval`, built from a copy of the example (nothing left in the
    repository's tree)."""
    project = tmp_path_factory.mktemp("java-example") / "java"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns("target"))
    await maven_compile(project)
    classpath = (project / "target" / "classpath.txt").read_text().strip()
    java = shutil.which("java")
    assert java
    return [java, "-cp", f"{project / 'target' / 'classes'}{os.pathsep}{classpath}", MAIN_CLASS]


async def test_the_java_example_verifies_the_published_vectors(java_command: list[str]) -> None:
    status, output = await run(*java_command, "--check-vectors", str(VECTORS), within=60)
    assert status == 0, output
    assert "5 verified, a changed byte fails in each, 5 refused as not signable, 0 failed" in (
        output
    )


async def forge_a_copy(stack: Stack, producer: AIOKafkaProducer, application_no: str) -> str:
    """Put on Hefei's topic a copy of the application's routed record with one byte of its
    value changed (the applicant's locality), under a key of its own; the key."""
    topic = topics.approval_requests(HEFEI)
    records = await read_topic(
        stack.settings,
        topic,
        until=lambda rs: any(r.key == application_no.encode() for r in rs),
    )
    (routed,) = [
        r
        for r in records
        if r.key == application_no.encode()
        and header(r, "ce_type") == "gov.tongban.application.routed.v1"
    ]
    assert routed.value is not None
    forged = routed.value.replace(b'"340104"', b'"340105"', 1)
    assert forged != routed.value
    key = f"FORGED-{application_no}"
    await producer.send_and_wait(
        topic, key=key.encode(), value=forged, headers=list(routed.headers)
    )
    return key


async def test_a_java_approval_system_reads_verifies_and_decides(
    stack: Stack,
    infrastructure: Infrastructure,
    producer: AIOKafkaProducer,
    java_command: list[str],
    tmp_path: Path,
) -> None:
    if infrastructure.kafka_credentials is None:
        pytest.skip("the broker from KAFKA_BOOTSTRAP_SERVERS is not the launcher's")
    journey = stack.journey()
    await journey.upload_sample_scans()
    accepted = await journey.submit(household_application(factories.applicant()))
    assert accepted.status_code == 201, accepted.text
    application_no = accepted.json()["application_no"]
    assert accepted.json()["competent_locality"] == HEFEI
    forged_key = await forge_a_copy(stack, producer, application_no)

    access = locality_access(
        HEFEI, infrastructure.kafka_credentials, infrastructure.kafka_bootstrap_servers
    )
    config = tmp_path / "approval-340100.properties"
    config.write_text(render_access(access, "properties"))
    token = stack.token("approval_system", HEFEI, sub="java-example-340100")
    approval = stack.services["approval"].base_url
    status, output = await run(
        *java_command,
        *("--consumer-config", str(config), "--locality", HEFEI, "--other-locality", WUHU),
        *("--group", f"{access.group_prefix}java-example-{uuid.uuid4().hex[:8]}"),
        *("--keys-url", f"{approval}/v1/keys", "--approval-url", approval),
        *("--decide", application_no, "--timeout", "90"),
        env={**os.environ, "TONGBAN_TOKEN": token},  # the machine credential, as deployed
        within=150,
    )
    ARTIFACT.parent.mkdir(parents=True, exist_ok=True)
    ARTIFACT.write_text(output)
    lines = output.splitlines()
    assert status == 0, output

    assert f"verified {application_no} gov.tongban.application.routed.v1" in lines
    assert any(
        line.startswith(f"untrusted {forged_key} the signature does not verify") for line in lines
    ), lines
    assert f"refused {topics.approval_requests(WUHU)} TopicAuthorizationException" in lines
    # Java's default client offered h2c; the service answered in HTTP/1.1 with the body read.
    assert f"decided {application_no} 200 HTTP_1_1" in lines
    # Intake shows it approved (and delivery moves on to the print queue from there).
    application = await journey.wait_for_status(application_no, "approved")
    assert "approved" in {entry["status"] for entry in application["timeline"]}
