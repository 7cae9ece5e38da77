"""Operators' dead-letter tools (shared.messaging.deadletters, `tongban dlq`) on the real broker.

The case: a certificate's revocation read before its issue. Delivery's registry and intake's
replica both refuse it (NotFound: no such certificate) and park it on tongban.approval.events.dlq;
once the issue has arrived, an operator finds the dead letters, looks at one, and replays it:
the same signed event goes back to tongban.approval.events, both consumers apply it now, and the
certificate verifies as revoked. Replaying the same event again changes nothing (the inboxes).
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.structs import ConsumerRecord
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from shared.certificates import CertificateContent
from shared.messaging import events, topics
from shared.messaging.deadletters import (
    BadDeadLetterId,
    DeadLetter,
    ReplayResult,
    get_dead_letter,
    list_dead_letters,
    replay,
)
from shared.messaging.envelope import Envelope
from shared.messaging.kafka import client_security, make_follower
from shared.settings import Settings
from tests.certificates import certificate_issued, certificate_revoked, routed_for
from tests.harness import Stack, eventually
from tests.integration.test_certificate_documents import verification_url, verify

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]
HEFEI = "340100"
DELIVERY = "tongban.delivery"
INTAKE = "tongban.intake.progress"
REVOKED = events.CertificateRevoked.event_type


@dataclass(frozen=True)
class Published:
    envelope: Envelope
    partition: int
    offset: int


async def put(producer: AIOKafkaProducer, stack: Stack, payload: events.EventPayload) -> Published:
    """`payload` on tongban.approval.events, signed by the issuer's seal as approval signs it.
    Routing's fact that this locality is competent for the application goes first."""
    assert isinstance(payload, events.ApplicationEvent)
    await routed_for(stack, producer, payload)
    await delivery_knows_the_competent_locality(stack, payload.application_no)
    envelope, sent = await stack.publish(producer, payload, topics.APPROVAL_EVENTS)
    return Published(envelope, sent.partition, sent.offset)


async def delivery_knows_the_competent_locality(stack: Stack, application_no: str) -> None:
    """Wait until delivery has read routing's fact: an approval event before it is retried
    (NotYetRouted) and its dead letter would count that wait as one more attempt, where this
    module is about the one refusal (NotFound) an operator meets."""
    url = stack.settings.delivery_database_url
    assert url is not None
    engine = create_async_engine(url, pool_size=1)

    async def recorded() -> bool | None:
        async with engine.connect() as connection:
            found = await connection.scalar(
                text("SELECT 1 FROM competence WHERE application_no = :no"), {"no": application_no}
            )
        return True if found else None

    try:
        await eventually(recorded)
    finally:
        await engine.dispose()


def certificate(application_no: str, number: str) -> CertificateContent:
    return CertificateContent(
        number=number,
        application_no=application_no,
        item_code="GA-HJ-001",
        item_name="户口迁移证明开具",
        holder_name="司马死信",
        holder_id_digest="cd" * 32,
        issuer_locality=HEFEI,
        issuer_department="公安局",
        issued_on=date.today(),
        valid_until=None,
    )


async def issue(producer: AIOKafkaProducer, stack: Stack, content: CertificateContent) -> None:
    await put(producer, stack, certificate_issued(stack, content))


async def unknown_to_verification(stack: Stack, number: str) -> bool:
    async with stack.client("delivery") as client:
        response = await client.get(f"/v1/certificates/{number}/verify")
    return response.status_code == 404


def outcome(stack: Stack, consumer: str, topic: str, partition: int, offset: int) -> str | None:
    """What `consumer` made of the record at topic[partition]@offset (its processing span)."""
    for span in stack.spans.get_finished_spans():
        attributes = span.attributes or {}
        if (
            attributes.get("messaging.consumer.group.name") == consumer
            and attributes.get("messaging.destination.name") == topic
            and attributes.get("messaging.kafka.partition") == str(partition)
            and attributes.get("messaging.kafka.offset") == str(offset)
            and "tongban.outcome" in attributes
        ):
            return str(attributes["tongban.outcome"])
    return None


async def outcomes_of(stack: Stack, result: ReplayResult) -> dict[str, str]:
    async def both() -> dict[str, str] | None:
        seen = {
            consumer: outcome(stack, consumer, result.topic, result.partition, result.offset)
            for consumer in (DELIVERY, INTAKE)
        }
        return {k: v for k, v in seen.items() if v} if all(seen.values()) else None

    found = await eventually(both)
    assert isinstance(found, dict)
    return found


async def record_at(
    settings: Settings, topic: str, partition: int, offset: int
) -> ConsumerRecord[bytes, bytes]:
    consumer = make_follower(
        settings.kafka_bootstrap_servers,
        client_id="test-record-at",
        security=client_security(settings),
    )
    await consumer.start()
    try:
        tp = TopicPartition(topic, partition)
        consumer.assign([tp])
        consumer.seek(tp, offset)
        record = await asyncio.wait_for(consumer.getone(tp), timeout=30)
        assert record.offset == offset
        return record
    finally:
        await consumer.stop()


@dataclass(frozen=True)
class CliRun:
    code: int
    stdout: str
    stderr: str


async def tongban(settings: Settings, *arguments: str, answer: str = "") -> CliRun:
    """`tongban ARGUMENTS` in a process of its own, with this run's broker and the admin's
    Kafka credentials in its environment (as an operator would export them)."""
    assert settings.kafka_password is not None
    environment = {
        **os.environ,
        "PYTHONPATH": str(REPO_ROOT),
        "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "KAFKA_SECURITY_PROTOCOL": settings.kafka_security_protocol,
        "KAFKA_SASL_MECHANISM": settings.kafka_sasl_mechanism,
        "KAFKA_USERNAME": settings.kafka_username or "",
        "KAFKA_PASSWORD": settings.kafka_password.get_secret_value(),
        # Rich sizes its tables to the terminal: wide enough for whole ids.
        "COLUMNS": "400",
        # The messages asserted below are their English sources.
        "TONGBAN_LANG": "en",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tooling.cli",
        *arguments,
        cwd=REPO_ROOT,
        env=environment,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(answer.encode()), timeout=120)
    assert process.returncode is not None
    return CliRun(process.returncode, stdout.decode(), stderr.decode())


def by_consumer(letters: Sequence[DeadLetter]) -> dict[str | None, DeadLetter]:
    return {letter.consumer: letter for letter in letters}


async def test_a_revocation_parked_before_its_certificate_is_found_shown_and_replayed_once(
    stack: Stack, producer: AIOKafkaProducer
) -> None:
    settings = stack.settings
    suffix = datetime.now(UTC).strftime("%H%M%S%f")
    application_no, number = f"TBDLQ{suffix}", f"CERTDLQ{suffix}"
    revocation = await put(
        producer,
        stack,
        certificate_revoked(application_no, number, locality=HEFEI),
    )

    # Both consumers of the revocation park it: neither has the certificate yet.
    async def parked() -> list[DeadLetter] | None:
        found = await list_dead_letters(settings, topic=topics.APPROVAL_EVENTS, reason=number)
        return found if {d.consumer for d in found} == {DELIVERY, INTAKE} else None

    letters = await eventually(parked)
    assert isinstance(letters, list) and len(letters) == 2
    parked_by = by_consumer(letters)
    delivery_letter, intake_letter = parked_by[DELIVERY], parked_by[INTAKE]
    for letter in letters:
        assert letter.dlq_topic == topics.dead_letter(topics.APPROVAL_EVENTS)
        assert letter.id == f"{letter.dlq_topic}:{letter.partition}:{letter.offset}"
        assert letter.original_topic == topics.APPROVAL_EVENTS
        assert (letter.original_partition, letter.original_offset) == (
            revocation.partition,
            revocation.offset,
        )
        assert letter.key == application_no
        assert letter.event_type == REVOKED
        assert letter.event_id == revocation.envelope.id
        assert letter.error_type == "NotFound"
        assert letter.error_message is not None and number in letter.error_message
        assert letter.attempts == 1
        assert letter.at is not None
        assert dict(letter.original_headers)["ce_signature"].decode() == (
            revocation.envelope.signature
        )

    # The filters: by original topic or its .dlq, by type, by error type or message.
    by_type_and_error = await list_dead_letters(
        settings,
        topic=topics.dead_letter(topics.APPROVAL_EVENTS),
        event_type=REVOKED,
        reason="notfound",
    )
    assert {delivery_letter.id, intake_letter.id} <= {d.id for d in by_type_and_error}
    assert await list_dead_letters(settings, topic=topics.ROUTING_EVENTS, reason=number) == []
    assert (
        await list_dead_letters(
            settings, event_type=events.ApplicationApproved.event_type, reason=number
        )
        == []
    )
    assert await get_dead_letter(settings, delivery_letter.id) == delivery_letter
    with pytest.raises(BadDeadLetterId):
        await get_dead_letter(settings, "tongban.approval.events:0:1")
    with pytest.raises(LookupError):
        await get_dead_letter(settings, f"{delivery_letter.dlq_topic}:0:999999999")

    # The CLI, as an operator runs it.
    listed = await tongban(
        settings, "dlq", "list", "--topic", topics.APPROVAL_EVENTS, "--reason", number
    )
    assert listed.code == 0, listed.stderr
    for letter in letters:
        assert letter.id in listed.stdout
    assert REVOKED in listed.stdout and application_no in listed.stdout
    shown = await tongban(settings, "dlq", "show", delivery_letter.id)
    assert shown.code == 0, shown.stderr
    assert f"ce_id: {revocation.envelope.id}" in shown.stdout
    assert "dlq.consumer: tongban.delivery" in shown.stdout
    assert "dlq.error.type: NotFound" in shown.stdout
    assert f'\n  "certificate_no": "{number}"' in shown.stdout  # the value, pretty-printed
    not_an_id = await tongban(settings, "dlq", "show", "not-an-id")
    assert not_an_id.code == 2 and "is not a dead letter id" in not_an_id.stderr
    absent = await tongban(settings, "dlq", "show", f"{delivery_letter.dlq_topic}:0:999999999")
    assert absent.code == 1 and "no dead letter" in absent.stderr

    # Nothing to revoke yet; then the certificate is issued and verifies.
    assert await unknown_to_verification(stack, number)
    await issue(producer, stack, certificate(application_no, number))
    url = await verification_url(stack, number)  # printed once delivery has it
    assert (await verify(stack, url))["valid"] is True

    # An operator who answers no publishes nothing (or the replay below would be a duplicate).
    declined = await tongban(settings, "dlq", "replay", delivery_letter.id, answer="n\n")
    assert declined.code == 1 and "Replay 1 dead letter(s)" in declined.stderr

    # The replay: the original record, same event id and signature, back on its topic...
    first = await replay(settings, delivery_letter.id)
    assert first.dead_letter_id == delivery_letter.id
    assert first.topic == topics.APPROVAL_EVENTS
    again = await record_at(settings, first.topic, first.partition, first.offset)
    headers = {name: value.decode() for name, value in again.headers}
    assert headers["ce_id"] == revocation.envelope.id
    assert headers["ce_signature"] == revocation.envelope.signature
    assert not [name for name in headers if name.startswith("dlq.")]
    assert again.key == application_no.encode() and again.value == delivery_letter.value
    # ...which both consumers apply now: the certificate no longer verifies.
    assert await outcomes_of(stack, first) == {DELIVERY: "processed", INTAKE: "processed"}
    answer = await verify(stack, url)
    assert (answer["valid"], answer["reason"]) == (False, "revoked")

    # Replaying the same event again (intake's dead letter of it, through the CLI) is skipped
    # by both inboxes.
    replayed = await tongban(settings, "dlq", "replay", intake_letter.id, "--yes")
    assert replayed.code == 0, replayed.stderr
    where = re.search(
        rf"{re.escape(intake_letter.id)} → {re.escape(topics.APPROVAL_EVENTS)}\[(\d+)\]@(\d+)",
        replayed.stdout,
    )
    assert where, replayed.stdout
    second = ReplayResult(
        intake_letter.id, topics.APPROVAL_EVENTS, int(where.group(1)), int(where.group(2))
    )
    assert await outcomes_of(stack, second) == {DELIVERY: "duplicate", INTAKE: "duplicate"}
    # The same revocation as before (each verification is counted, hence not all of it).
    after = await verify(stack, url)
    assert (after["reason"], after["revoked_at"]) == ("revoked", answer["revoked_at"])
    # And nothing new was parked.
    assert {d.id for d in await list_dead_letters(settings, reason=number)} == {
        delivery_letter.id,
        intake_letter.id,
    }


async def test_replay_takes_ids_or_all_with_filters(stack: Stack) -> None:
    neither = await tongban(stack.settings, "dlq", "replay")
    assert neither.code == 2 and "--all" in neither.stderr
    filters_without_all = await tongban(
        stack.settings, "dlq", "replay", "x.dlq:0:0", "--reason", "NotFound"
    )
    assert filters_without_all.code == 2 and "go with --all" in filters_without_all.stderr
    nothing = await tongban(
        stack.settings, "dlq", "replay", "--all", "--reason", "no-such-reason-anywhere", "--yes"
    )
    assert nothing.code == 0 and "No dead letters to replay." in nothing.stderr
