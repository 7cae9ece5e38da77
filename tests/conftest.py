"""Fixtures: the real infrastructure (Kafka + PostgreSQL from the project's launcher) and the
in-process Tongban stack on top of it, both started once per test session."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from pydantic import SecretStr

from shared.db.migrations import upgrade
from shared.messaging.kafka import client_security, make_producer
from shared.reference.localities import locality_codes
from shared.settings import Settings, with_database
from tests.harness import Stack
from tests.otlp_receiver import OtlpReceiver
from tooling.carrier_simulator.control import SimulatorControl, simulator_command
from tooling.infra import (
    Infrastructure,
    ManagedProcess,
    ensure_databases,
    free_ports,
    local_infrastructure,
    stop_processes,
)
from tooling.kafka_access import tongban_acl_table
from tooling.seed import seed_demo_agreements
from tooling.sms_gateway.control import SmsGatewayControl, gateway_process

# Two approval instances serve disjoint localities: B takes 马鞍山 and 淮北, A everything else.
APPROVAL_B_LOCALITIES = ["340500", "340600"]
# The windows the integration tests hand applications and supplements in at.
SAMPLE_WINDOWS = (
    ("W341200-01", "341200"),
    ("W341200-02", "341200"),
    ("W340200-01", "340200"),
    ("W340200-07", "340200"),
    ("W340104-01", "340104"),
)
TEST_DATABASES = {
    "intake": "tongban_test_intake",
    "routing": "tongban_test_routing",
    "approval": "tongban_test_approval",
    "approval_b": "tongban_test_approval_b",
    "delivery": "tongban_test_delivery",
}


@pytest.fixture(scope="session")
def infrastructure(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Infrastructure]:
    work_dir = Path(os.environ.get("TONGBAN_TEST_WORK_DIR") or tmp_path_factory.mktemp("infra"))
    with local_infrastructure(work_dir, acl_table=tongban_acl_table()) as infra:
        yield infra


@pytest.fixture(scope="session")
def database_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The PostgreSQL server's URL: the integration stack's when this session runs integration
    tests too (one server, not two), else a server started alone, without Kafka (the use-case
    tests need no broker)."""
    if any("integration" in item.path.parts for item in request.session.items):
        infra: Infrastructure = request.getfixturevalue("infrastructure")
        yield infra.database_url
        return
    work_dir = Path(os.environ.get("TONGBAN_TEST_WORK_DIR") or tmp_path_factory.mktemp("infra"))
    with local_infrastructure(work_dir, acl_table=tongban_acl_table(), kafka=False) as infra:
        yield infra.database_url


@pytest.fixture(scope="session")
def spans() -> InMemorySpanExporter:
    exporter = InMemorySpanExporter()
    # Process-wide instrumentations (asyncpg, aiokafka) report here; each service's own spans
    # come from its own provider, which the stack points at the same exporter.
    provider = TracerProvider(resource=Resource.create({"service.name": "tongban-tests"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    return exporter


@pytest.fixture(scope="session")
def otlp_receiver() -> OtlpReceiver:
    """An OTLP/HTTP receiver the services export their spans to, besides `spans`, as they
    would to a collector (tests/integration/test_otlp_export.py reads what arrives)."""
    # The SDK's batch processors send every 5 s by default (read when the services' providers
    # are made); a test waits for its spans, a shorter wait keeps it quick.
    os.environ.setdefault("OTEL_BSP_SCHEDULE_DELAY", "200")
    return OtlpReceiver().start()


@pytest.fixture(scope="session")
def carrier_simulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimulatorControl]:
    """The carrier simulator as a real process of its own on a free port (邮政寄递); its
    webhook URL is set once delivery's port is known (Stack.start)."""
    (port,) = free_ports(1)
    log_dir = tmp_path_factory.mktemp("carrier")
    process = ManagedProcess(
        "carrier simulator",
        simulator_command(port),
        log_path=log_dir / "carrier.log",
        pid_file=log_dir / "carrier.pid",
        cwd=Path(__file__).resolve().parents[1],
        env={
            **os.environ,
            "TONGBAN_ENV": "development",
            "PYTHONUNBUFFERED": "1",
            # Tracking reports a moment apart, so a test sees the whole journey quickly.
            "CARRIER_SIMULATOR_STEP_SECONDS": "0.2",
        },
        stop_signal=signal.SIGTERM,
    )
    process.start()
    control = SimulatorControl(f"http://127.0.0.1:{port}")
    try:
        deadline = time.monotonic() + 60
        while not control.ready_now():
            if not process.alive() or time.monotonic() > deadline:
                raise process.failure("The carrier simulator did not start.")
            time.sleep(0.1)
        yield control
    finally:
        stop_processes([process], grace=5)


@pytest.fixture(scope="session")
def sms_report_secret() -> bytes:
    """What the SMS gateway simulator signs its delivery reports with in the tests."""
    return b"tongban-test-sms-report-secret"


@pytest.fixture(scope="session")
def sms_gateway(
    tmp_path_factory: pytest.TempPathFactory, sms_report_secret: bytes
) -> Iterator[SmsGatewayControl]:
    """The SMS gateway simulator as a real process of its own on a free port (短信); where its
    delivery reports go is set by the test that receives them (SmsGatewayControl.set_reports)."""
    (port,) = free_ports(1)
    process = gateway_process(
        port,
        None,
        env={
            **os.environ,
            "TONGBAN_ENV": "development",
            "PYTHONUNBUFFERED": "1",
            "SMS_REPORT_SECRET": sms_report_secret.decode(),
        },
        log_dir=tmp_path_factory.mktemp("sms"),
        cwd=Path(__file__).resolve().parents[1],
    )
    process.start()
    control = SmsGatewayControl(f"http://127.0.0.1:{port}")
    try:
        deadline = time.monotonic() + 60
        while not control.ready_now():
            if not process.alive() or time.monotonic() > deadline:
                raise process.failure("The SMS gateway simulator did not start.")
            time.sleep(0.1)
        yield control
    finally:
        stop_processes([process], grace=5)


@pytest.fixture(scope="session")
def test_settings(
    infrastructure: Infrastructure,
    tmp_path_factory: pytest.TempPathFactory,
    carrier_simulator: SimulatorControl,
    sms_gateway: SmsGatewayControl,
    sms_report_secret: bytes,
    otlp_receiver: OtlpReceiver,
) -> Settings:
    ensure_databases(infrastructure.database_url, list(TEST_DATABASES.values()), recreate=True)
    for service, database in TEST_DATABASES.items():
        upgrade(service.removesuffix("_b"), with_database(infrastructure.database_url, database))
    # Test code that acts on Kafka from outside the services is the launcher's admin; each
    # service gets its own principal (service_settings).
    return Settings(
        kafka_bootstrap_servers=infrastructure.kafka_bootstrap_servers,
        **infrastructure.kafka_settings(),
        database_url=infrastructure.database_url,
        intake_database_url=with_database(infrastructure.database_url, TEST_DATABASES["intake"]),
        routing_database_url=with_database(infrastructure.database_url, TEST_DATABASES["routing"]),
        approval_database_url=with_database(
            infrastructure.database_url, TEST_DATABASES["approval"]
        ),
        delivery_database_url=with_database(
            infrastructure.database_url, TEST_DATABASES["delivery"]
        ),
        approval_localities=[c for c in locality_codes() if c not in APPROVAL_B_LOCALITIES],
        # Minutes: every event of the suite moves because its commit woke the relay, not
        # because a poll came round (the wake path is what the tests exercise).
        outbox_poll_seconds=300,
        consumer_backoff_seconds=0.05,
        # Deadline supervision looks every half second, so a test that moves the clock sees it.
        deadline_scan_seconds=0.5,
        # Routing signs a checkpoint of its audit ledger's head within a second of it moving.
        ledger_checkpoint_seconds=0.5,
        # ... and verifies what was appended since its last verification every second.
        ledger_verify_seconds=1.0,
        consumer_max_attempts=3,
        # Scans go to a folder of this run: intake writes it, approval reads it.
        blob_store_url=str(tmp_path_factory.mktemp("blobs")),
        # Development mode: the built-in secrets, a key ring of this run.
        tongban_env="development",
        key_ring_dir=str(tmp_path_factory.mktemp("keys")),
        # Delivery posts through the simulator's process; a dispatch the carrier did not take
        # is tried again within a second or two, and a slow carrier is given up on in one.
        carrier_base_url=carrier_simulator.base_url,
        carrier_poll_seconds=0.5,
        carrier_timeout_seconds=1.0,
        # Texts go out through the simulator's process.
        sms_gateway_url=sms_gateway.base_url,
        sms_report_secret=SecretStr(sms_report_secret.decode()),
        otel_exporter_otlp_endpoint=otlp_receiver.endpoint,
    )


@pytest.fixture(scope="session")
async def stack(
    test_settings: Settings,
    spans: InMemorySpanExporter,
    infrastructure: Infrastructure,
    carrier_simulator: SimulatorControl,
    sms_gateway: SmsGatewayControl,
) -> AsyncIterator[Stack]:
    from services.approval.main import create_app as create_approval
    from services.delivery.main import create_app as create_delivery
    from services.intake.main import create_app as create_intake
    from services.routing.main import create_app as create_routing

    def service_settings(service: str) -> Settings:
        # Each service is its own Kafka principal, as in `make run`.
        return test_settings.model_copy(update=infrastructure.kafka_settings(service))

    running = Stack(settings=test_settings, spans=spans, carrier=carrier_simulator, sms=sms_gateway)
    await running.start("routing", lambda _: create_routing(service_settings("routing"), spans))
    # Seed data of local runs, granted through routing's API before intake reads the rules.
    await seed_demo_agreements(running.services["routing"].base_url, test_settings)
    await running.start("intake", lambda _: create_intake(service_settings("intake"), spans))
    # The sample scans the journeys reference, uploaded as a window would, at each window the
    # tests hand in from (a window may cite only the scans it uploaded).
    for window_id, locality in SAMPLE_WINDOWS:
        await running.journey(window_id, locality).upload_sample_scans()
    await running.start("approval", lambda _: create_approval(service_settings("approval"), spans))
    approval_b_settings = service_settings("approval").model_copy(
        update={
            "approval_localities": APPROVAL_B_LOCALITIES,
            "approval_database_url": with_database(
                infrastructure.database_url, TEST_DATABASES["approval_b"]
            ),
            "approval_consumer_group": "tongban.approval.b",
        }
    )
    await running.start("approval_b", lambda _: create_approval(approval_b_settings, spans))
    await running.start("delivery", lambda _: create_delivery(service_settings("delivery"), spans))
    try:
        yield running
    finally:
        await running.stop()
        await asyncio.sleep(0)


@pytest.fixture
async def producer(stack: Stack) -> AsyncIterator[AIOKafkaProducer]:
    """A Kafka producer of the tests' own (admin) principal, for records a test puts on a topic
    itself: whoever may write a topic is not thereby believed by its consumers."""
    kafka = make_producer(
        stack.settings.kafka_bootstrap_servers,
        client_id="test-producer",
        security=client_security(stack.settings),
    )
    await kafka.start()
    yield kafka
    await kafka.stop()
