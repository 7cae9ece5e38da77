"""The audit ledger (区块链信任机制), end to end: a whole journey, its case view and scan read are
chained in routing's ledger; the chain verifies, incrementally; rows changed, removed or swapped
in SQL make the verification fail at the first bad entry; routing publishes checkpoints that
anyone can check against its public key, and the chain is held to them: the newest entries cut
together with routing's own record of their checkpoints, or the whole ledger wiped, fail
`GET /v1/audit/verify` and `tongban audit verify`; `tongban audit watch` keeps the checkpoints
in its own store.

The tampering is done, and undone, on routing's test database through a separate engine, as an
intruder with SQL access would; every case leaves the chain repaired for the tests after it.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from shared.audit.ledger import head_statement
from shared.crypto.sm import sm2_verify
from shared.messaging import events, topics
from shared.settings import with_database
from tests import factories
from tests.harness import Stack, eventually, header, read_topic
from tooling.audit import verify_command, verify_database
from tooling.journey import household_application

pytestmark = pytest.mark.integration

JOURNEY_TYPES = {
    events.ApplicationAccepted.event_type,
    events.ApplicationRouted.event_type,
    events.Routed.event_type,
    events.CaseOpened.event_type,
    events.CaseViewed.event_type,
    events.MaterialRead.event_type,
    events.ApplicationApproved.event_type,
    events.CertificateReadyForPickup.event_type,
    events.CertificateDelivered.event_type,
}


@pytest.fixture
async def routing_sql(stack: Stack) -> AsyncIterator[AsyncEngine]:
    url = stack.settings.routing_database_url
    assert url
    engine = create_async_engine(url, pool_size=1)
    try:
        yield engine
    finally:
        await engine.dispose()


async def journey_in_the_ledger(stack: Stack) -> tuple[str, list[dict[str, Any]]]:
    """One application from window to hand-over, with a case view and a scan read; its ledger
    entries once they are all there."""
    trip = stack.journey()
    applicant = factories.applicant("340104")
    form = household_application(applicant)
    accepted = await trip.submit(form)
    assert accepted.status_code == 201, accepted.text
    number = accepted.json()["application_no"]
    await trip.wait_for_case(number, "340100")  # an approver views the case
    await trip.read_scan(number, "340100", form["materials"][0]["sha256"])
    await trip.approve(number, "340100")
    await trip.wait_in_print_queue(number)
    handed = await trip.hand_over(number, applicant["id_number"])
    assert handed.status_code == 200, handed.text

    async with stack.client("routing", operator_token(stack)) as routing:

        async def all_there() -> list[dict[str, Any]] | None:
            response = await routing.get(f"/v1/audit/applications/{number}")
            assert response.status_code == 200, response.text
            entries: list[dict[str, Any]] = response.json()["entries"]
            return entries if JOURNEY_TYPES <= {e["event_type"] for e in entries} else None

        found = await eventually(all_there)
    assert isinstance(found, list)
    return number, found


def routing_guard(stack: Stack) -> Any:
    """A guard of the tail with routing's MAC key (the stack's key ring), so entries appended by
    a test carry the MAC routing's checkpointer wants."""
    from services.routing.usecases import ledger

    return ledger.TailGuard(ledger.entry_macs(stack.settings.key_ring()))


def operator_token(stack: Stack) -> str:
    return stack.token("operator", "340000")


async def verify(stack: Stack, query: str = "") -> dict[str, Any]:
    async with stack.client("routing", operator_token(stack)) as routing:
        response = await routing.get(f"/v1/audit/verify{query}")
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


async def tongban_audit_verify(stack: Stack) -> tuple[int, str]:
    """What `tongban audit verify` does and prints (its own event loop, so in a thread)."""
    out = io.StringIO()
    console = Console(file=out, width=200)
    code = await asyncio.to_thread(verify_command, stack.settings, console)
    return code, out.getvalue()


@asynccontextmanager
async def tampered(
    engine: AsyncEngine,
    do: list[tuple[str, dict[str, Any]]],
    undo: list[tuple[str, dict[str, Any]]],
) -> AsyncIterator[None]:
    async with engine.begin() as sql:
        for statement, values in do:
            await sql.execute(text(statement), values)
    try:
        yield
    finally:
        async with engine.begin() as sql:
            for statement, values in undo:
                await sql.execute(text(statement), values)


async def test_a_journey_is_chained_in_the_ledger_and_the_chain_verifies(stack: Stack) -> None:
    number, entries = await journey_in_the_ledger(stack)

    seqs = [entry["seq"] for entry in entries]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    for entry in entries:
        assert set(entry) >= {"seq", "event_type", "at", "prev_hash", "hash", "signature"}
        assert entry["subject"] == number
        # Format 2: hashed only; the published checkpoints carry routing's signature.
        assert entry["signature"] is None and entry["signer"] is None
    topics_read = {entry["topic"] for entry in entries}
    assert topics.approval_requests("340100") in topics_read
    assert {topics.INTAKE_EVENTS, topics.APPROVAL_EVENTS, topics.DELIVERY_EVENTS} <= topics_read

    answer = await verify(stack)
    assert answer["ok"] is True, answer
    assert answer["first_bad_seq"] is None
    assert answer["head_seq"] >= max(seqs)
    assert answer["checked"] == answer["head_seq"] - answer["from_seq"]
    whole = await verify(stack, "?full=true")
    assert whole["ok"] is True and whole["checked"] == whole["head_seq"] >= max(seqs), whole


async def test_only_operators_and_admins_read_the_ledger(stack: Stack) -> None:
    for role, locality, window in (
        ("approver", "340100", None),
        ("window_clerk", "341200", "W341200-01"),
    ):
        token = stack.token(role, locality, window)  # type: ignore[arg-type]
        async with stack.client("routing", token) as routing:
            for path in ("/v1/audit/verify", "/v1/audit/applications/TB1"):
                response = await routing.get(path)
                assert response.status_code == 403, response.text
                assert response.json()["error"]["code"] == "forbidden_role"
    async with stack.client("routing") as anonymous:
        assert (await anonymous.get("/v1/audit/verify")).status_code == 401
    async with stack.client("routing", stack.token("admin", "340000")) as admin:
        assert (await admin.get("/v1/audit/verify")).status_code == 200


async def test_rows_changed_removed_or_swapped_in_sql_fail_at_the_first_bad_entry(
    stack: Stack, routing_sql: AsyncEngine
) -> None:
    _, entries = await journey_in_the_ledger(stack)
    # Entries well inside the chain: the ledger goes on appending after them meanwhile.
    first, second = entries[0], entries[2]
    assert first["seq"] < second["seq"] < entries[-1]["seq"]
    assert (await verify(stack))["ok"] is True

    async def fails_at(seq: int) -> None:
        # In the middle of what was verified before: only a full verification recomputes it.
        answer = await verify(stack, "?full=true")
        assert answer["ok"] is False and answer["first_bad_seq"] == seq, answer
        assert answer["checked"] >= 1 and answer["head_seq"] == seq - 1
        # The command-line check reads the database directly and agrees.
        direct = await verify_database(stack.settings)
        assert (direct.ok, direct.verdict.first_bad_seq) == (False, seq)

    # 1. A field of an entry changed.
    change = "UPDATE ledger SET event_type = :type WHERE seq = :seq"
    forged = {"type": events.ApplicationRejected.event_type, "seq": second["seq"]}
    original = {"type": second["event_type"], "seq": second["seq"]}
    async with tampered(routing_sql, [(change, forged)], [(change, original)]):
        await fails_at(second["seq"])
        code, printed = await tongban_audit_verify(stack)
        assert code == 1 and f"first bad seq {second['seq']}" in printed, printed
    assert (await verify(stack))["ok"] is True

    # 2. An entry removed (and put back as it was).
    async with routing_sql.connect() as sql:
        row = (
            (await sql.execute(text("SELECT * FROM ledger WHERE seq = :seq"), first))
            .mappings()
            .one()
        )
    columns = ", ".join(row.keys())
    put_back = f"INSERT INTO ledger ({columns}) VALUES ({', '.join(':' + c for c in row.keys())})"
    remove = "DELETE FROM ledger WHERE seq = :seq"
    async with tampered(routing_sql, [(remove, first)], [(put_back, dict(row))]):
        await fails_at(first["seq"])
    assert (await verify(stack))["ok"] is True

    # 3. Two entries swapped (each takes the other's place).
    move = "UPDATE ledger SET seq = :to WHERE seq = :seq"
    a, b = first["seq"], second["seq"]
    swap = [(move, {"seq": a, "to": -a}), (move, {"seq": b, "to": a}), (move, {"seq": -a, "to": b})]
    back = [(move, {"seq": b, "to": -b}), (move, {"seq": a, "to": b}), (move, {"seq": -b, "to": a})]
    async with tampered(routing_sql, swap, back):
        await fails_at(a)

    assert (await verify(stack))["ok"] is True
    assert (await verify_database(stack.settings)).ok
    code, printed = await tongban_audit_verify(stack)
    assert code == 0 and "ok" in printed, printed


async def test_routing_publishes_signed_checkpoints_that_verify_with_its_public_key(
    stack: Stack, routing_sql: AsyncEngine
) -> None:
    _, entries = await journey_in_the_ledger(stack)
    last = entries[-1]["seq"]

    def checkpoint(record: Any) -> dict[str, Any]:
        payload: dict[str, Any] = json.loads(record.value)
        return payload

    records = await read_topic(
        stack.settings,
        topics.AUDIT_CHECKPOINTS,
        until=lambda found: any(checkpoint(r)["seq"] >= last for r in found),
    )
    record = next(r for r in records if checkpoint(r)["seq"] >= last)
    assert header(record, "ce_type") == events.LedgerCheckpoint.event_type
    published = checkpoint(record)

    # As a third party would: the public key from trust-list.json, SM2 with SM3 over the
    # canonical head statement, raw r ‖ s.
    keys = json.loads((Path(stack.settings.key_ring_dir) / "trust-list.json").read_text())
    key = next(k for k in keys["keys"] if k["kid"] == published["signer"])
    assert key["name"] == "routing" and key["algorithm"] == "SM2-SM3"
    statement = head_statement(
        published["seq"], published["hash"], datetime.fromisoformat(published["at"])
    )
    signature = base64.b64decode(published["signature"])
    public = base64.b64decode(key["public_key"])
    assert sm2_verify(public, statement, signature)
    assert not sm2_verify(public, statement.replace(b'"seq":', b'"seq":1'), signature)

    # The statement is about the chain as stored.
    async with routing_sql.connect() as sql:
        stored = await sql.scalar(
            text("SELECT hash FROM ledger WHERE seq = :seq"), {"seq": published["seq"]}
        )
    assert stored == published["hash"]

    # Verification may start at a signed checkpoint.
    latest = (await verify(stack))["checkpoint"]
    assert latest["signature_ok"] is True and latest["head_matches"] is True
    answer = await verify(stack, f"?from={latest['seq']}")
    assert answer["ok"] is True and answer["from_seq"] == latest["seq"], answer
    async with stack.client("routing", operator_token(stack)) as routing:
        missing = await routing.get("/v1/audit/verify?from=999999999")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "checkpoint_not_found"


async def test_concurrent_appends_take_consecutive_seqs_and_an_event_is_appended_once(
    stack: Stack,
) -> None:
    """Several appenders at once (as several routing processes would be): the advisory lock on
    the head hands out seqs one at a time, each entry chained to the one committed before it."""
    from services.routing.usecases import ledger
    from shared.db import Database
    from shared.messaging.envelope import Envelope

    url = stack.settings.routing_database_url
    assert url
    databases = [Database(url, pool_size=1) for _ in range(4)]
    guard = routing_guard(stack)
    accepted = [
        Envelope.new(
            events.CaseViewed(
                application_no=f"TB-LEDGER-{n:03d}",
                locality="340100",
                viewed_by="approver-340100",
                viewer_locality="340100",
                viewed_at=datetime.fromisoformat("2026-03-02T09:00:00+08:00"),
            ),
            source="/tongban/approval",
        )
        for n in range(12)
    ]

    async def append(number: int, envelope: Envelope) -> int | None:
        read = ledger.Read(topics.APPROVAL_EVENTS, 0, 10_000 + number, b"{}")
        async with databases[number % len(databases)].transaction() as session:
            sealed = await ledger.append_to_ledger(session, envelope, read, guard)
            return sealed.seq if sealed else None

    try:
        seqs = await asyncio.gather(*(append(n, e) for n, e in enumerate(accepted)))
        again = await append(0, accepted[0])
    finally:
        for database in databases:
            await database.dispose()
    # Each its own seq (the ledger's own consumer may append between them); the whole chain
    # still verifies, so each entry chains to the one before it.
    assert None not in seqs and len(set(seqs)) == len(accepted)
    assert again is None
    answer = await verify(stack)
    assert answer["ok"] is True and answer["head_seq"] >= max(s or 0 for s in seqs), answer


async def checkpointed(stack: Stack, seq: int) -> dict[str, Any]:
    """Routing's answer once a checkpoint covering entry `seq` was published and read back."""

    async def covered() -> dict[str, Any] | None:
        answer = await verify(stack)
        check = answer["checkpoint"]
        return answer if check and check["seq"] >= seq else None

    found = await eventually(covered)
    assert isinstance(found, dict)
    return found


@asynccontextmanager
async def ledger_held(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """Routing appends nothing meanwhile (its appender waits on the ledger's lock), so what is
    cut can be put back exactly as it was."""
    from services.routing.usecases.ledger import LEDGER_LOCK

    async with engine.connect() as held:
        await held.execute(text("SELECT pg_advisory_lock(:key)"), {"key": LEDGER_LOCK})
        await held.commit()
        try:
            yield held
        finally:
            await held.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": LEDGER_LOCK})
            await held.commit()


@asynccontextmanager
async def cut(
    engine: AsyncEngine, after: int, *, verification: bool = False
) -> AsyncIterator[None]:
    """As an intruder with routing's database would: every entry after `after` deleted with
    routing's own record of the checkpoints that covered them (and, with `verification`, the
    stored position of the last verification too); all of it put back afterwards."""
    tables = ["ledger", "ledger_checkpoints"]
    where = {"ledger": "seq > :after", "ledger_checkpoints": "seq > :after"}
    if verification:
        tables.append("ledger_verification")
        where["ledger_verification"] = "TRUE"
    async with engine.begin() as sql:
        for table in tables:
            condition, values = where[table], {"after": after}
            await sql.execute(
                text(f"CREATE TABLE cut_{table} AS SELECT * FROM {table} WHERE {condition}"), values
            )
            await sql.execute(text(f"DELETE FROM {table} WHERE {condition}"), values)
    try:
        yield
    finally:
        async with engine.begin() as sql:
            for table in tables:
                # Whatever took the place meanwhile (a verification's fresh state row) goes.
                await sql.execute(
                    text(f"DELETE FROM {table} WHERE {where[table]}"), {"after": after}
                )
                await sql.execute(text(f"INSERT INTO {table} SELECT * FROM cut_{table}"))
                await sql.execute(text(f"DROP TABLE cut_{table}"))


async def test_the_newest_entries_cut_with_their_checkpoints_fail_verification(
    stack: Stack, routing_sql: AsyncEngine
) -> None:
    _, entries = await journey_in_the_ledger(stack)
    await checkpointed(stack, entries[-1]["seq"])
    async with ledger_held(routing_sql):
        async with routing_sql.connect() as sql:
            head = int(await sql.scalar(text("SELECT max(seq) FROM ledger")) or 0)
        before = await verify(stack)
        assert before["ok"] is True, before
        published = before["checkpoint"]["seq"]
        assert published <= head
        start = published - 2  # the checkpointed head and the two entries before it
        async with cut(routing_sql, start):
            answer = await verify(stack)
            assert answer["ok"] is False and answer["first_bad_seq"] == start + 1, answer
            assert f"entries {start + 1}–{published} missing" in answer["problem"], answer
            assert f"the chain ends at {start}" in answer["problem"], answer
            assert answer["checkpoint"]["head_matches"] is False
            # A full recomputation says the same; so does the command line, from the topic.
            assert (await verify(stack, "?full=true"))["first_bad_seq"] == start + 1
            code, printed = await tongban_audit_verify(stack)
            assert code == 1, printed
            assert f"first bad seq {start + 1}" in printed and "missing" in printed, printed
        assert (await verify(stack))["ok"] is True
    code, printed = await tongban_audit_verify(stack)
    assert code == 0, printed


async def test_a_wiped_ledger_fails_verification_once_checkpoints_were_published(
    stack: Stack, routing_sql: AsyncEngine
) -> None:
    _, entries = await journey_in_the_ledger(stack)
    await checkpointed(stack, entries[-1]["seq"])
    async with ledger_held(routing_sql), cut(routing_sql, 0, verification=True):
        async with routing_sql.connect() as sql:
            assert await sql.scalar(text("SELECT count(*) FROM ledger")) == 0
        answer = await verify(stack)
        assert answer["ok"] is False and answer["first_bad_seq"] == 1, answer
        assert "the ledger is empty" in answer["problem"], answer
        code, printed = await tongban_audit_verify(stack)
        assert code == 1 and "the ledger is empty" in printed, printed
    assert (await verify(stack, "?full=true"))["ok"] is True


async def test_verification_goes_on_from_where_the_last_one_stopped(stack: Stack) -> None:
    from services.routing.usecases import ledger
    from shared.db import Database
    from shared.messaging.envelope import Envelope

    first = await verify(stack)
    assert first["ok"] is True and first["verified_at"], first
    url = stack.settings.routing_database_url
    assert url
    database = Database(url, pool_size=1)
    guard = routing_guard(stack)
    try:
        for n in range(5):
            envelope = Envelope.new(
                events.CaseViewed(
                    application_no=f"TB-INCR-{n:03d}",
                    locality="340100",
                    viewed_by="approver-340100",
                    viewer_locality="340100",
                    viewed_at=datetime.fromisoformat("2026-03-02T09:00:00+08:00"),
                ),
                source="/tongban/approval",
            )
            read = ledger.Read(topics.APPROVAL_EVENTS, 0, 20_000 + n, b"{}")
            async with database.transaction() as session:
                assert await ledger.append_to_ledger(session, envelope, read, guard)
    finally:
        await database.dispose()

    second = await verify(stack)
    # Only what was appended after the position verified before is recomputed (routing's own
    # background verification may have moved that position on meanwhile).
    assert second["ok"] is True, second
    assert second["from_seq"] >= first["head_seq"] > 0
    assert second["head_seq"] >= first["head_seq"] + 5
    assert second["checked"] == second["head_seq"] - second["from_seq"] < second["head_seq"]
    whole = await verify(stack, "?full=true")
    assert whole["ok"] is True and whole["from_seq"] == 0
    assert whole["checked"] == whole["head_seq"] >= second["head_seq"]

    # The last verdict, as the console shows it, without verifying again.
    async with stack.client("routing", operator_token(stack)) as routing:
        last = (await routing.get("/v1/audit/verification")).json()
    assert last["ok"] is True and last["verified_at"] >= whole["verified_at"]


async def test_the_watcher_keeps_every_checkpoint_in_its_own_store(
    stack: Stack, infrastructure: Any
) -> None:
    from tooling.audit_watch import stored_checkpoints, watch
    from tooling.infra import ensure_databases_async
    from tooling.kafka_principals import AUDIT_WATCH_PRINCIPAL

    _, entries = await journey_in_the_ledger(stack)
    latest = (await checkpointed(stack, entries[-1]["seq"]))["checkpoint"]
    await ensure_databases_async(infrastructure.database_url, ["tongban_test_audit"], recreate=True)
    # As it runs: its own principal, which may read the checkpoints and nothing else.
    principal = infrastructure.kafka_settings(AUDIT_WATCH_PRINCIPAL)
    settings = stack.settings.model_copy(
        update={
            "audit_watch_database_url": with_database(
                infrastructure.database_url, "tongban_test_audit"
            ),
            **principal,
        }
    )
    assert await stored_checkpoints(settings) is None  # no store before the watcher made it

    stored = await watch(settings, asyncio.Event(), until_end=True)
    assert stored >= 1
    seen = {
        checkpoint.seq: checkpoint.hash for checkpoint in await stored_checkpoints(settings) or []
    }
    assert seen.get(latest["seq"]) == latest["hash"]
    # Started again, it reads on after what it stored.
    assert await watch(settings, asyncio.Event(), until_end=True) < stored

    # A checkpoint the watcher saw holds the chain even when the topic no longer has it: one
    # signed by routing's key far beyond the head, in the watcher's store only.
    signer = stack.settings.key_ring().signer("routing")
    beyond, at = latest["seq"] + 1000, datetime.fromisoformat("2026-03-02T09:00:00+00:00")
    signature = base64.b64encode(signer.sign(head_statement(beyond, "f" * 64, at))).decode()
    watcher_sql = create_async_engine(settings.audit_watch_database(), pool_size=1)
    try:
        async with watcher_sql.begin() as sql:
            await sql.execute(
                text(
                    "INSERT INTO seen_checkpoints VALUES (99, 0, 'e', :seq, :hash, :at, :signer, "
                    ":signature, TRUE, now())"
                ),
                {
                    "seq": beyond,
                    "hash": "f" * 64,
                    "at": at,
                    "signer": signer.kid,
                    "signature": signature,
                },
            )
        direct = await verify_database(settings)
        assert direct.ok is False and f"checkpoint of entry {beyond}" in (direct.problem or "")
    finally:
        await watcher_sql.dispose()


async def test_the_broker_keeps_every_checkpoint_for_good(stack: Stack) -> None:
    """The launcher's admin made the topic (and sets it again at each start): delete policy,
    no limit of time or size, so no checkpoint ever ages out or is compacted away."""
    from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

    from shared.messaging.kafka import client_security, make_admin

    admin = make_admin(
        stack.settings.kafka_bootstrap_servers, security=client_security(stack.settings)
    )
    await admin.start()
    try:
        (response,) = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, topics.AUDIT_CHECKPOINTS)]
        )
    finally:
        await admin.close()
    entries = response.resources[0][4]
    configs = {entry[0]: entry[1] for entry in entries}
    assert configs["cleanup.policy"] == "delete"
    assert configs["retention.ms"] == "-1" and configs["retention.bytes"] == "-1"


def case_viewed(number: str, offset: int) -> tuple[Any, Any]:
    """An event for the ledger and where it was read, as its consumer would append it."""
    from services.routing.usecases import ledger
    from shared.messaging.envelope import Envelope

    envelope = Envelope.new(
        events.CaseViewed(
            application_no=number,
            locality="340100",
            viewed_by="approver-340100",
            viewer_locality="340100",
            viewed_at=datetime.fromisoformat("2026-03-02T09:00:00+08:00"),
        ),
        source="/tongban/approval",
    )
    return envelope, ledger.Read(topics.APPROVAL_EVENTS, 0, offset, b"{}")


async def test_a_batch_is_chained_under_one_lock_and_a_savepoint_rolled_back_leaves_no_gap(
    stack: Stack,
) -> None:
    """append_many locks and reads the head once per transaction (a batch of records handled
    in one transaction appends without asking again), skips events already in the ledger, and a
    savepoint rolled back (a record of the batch handled again on its own) takes its entries
    with it: the next append chains to what is really there."""
    from sqlalchemy import event

    from services.routing.usecases import ledger
    from shared.db import Database

    url = stack.settings.routing_database_url
    assert url
    database = Database(url, pool_size=1)
    guard = routing_guard(stack)
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    event.listen(database.engine.sync_engine, "before_cursor_execute", count)
    reads = [case_viewed(f"TB-BATCH-{n:03d}", 30_000 + n) for n in range(6)]
    try:
        async with database.transaction() as session:
            first = await ledger.append_many(session, [*reads[:3], reads[0]], guard)
            assert [e.entry.event_id for e in first] == [e.id for e, _ in reads[:3]]
            assert [e.seq for e in first] == list(range(first[0].seq, first[0].seq + 3))
            assert all(e.signature is None for e in first)
            statements.clear()
            second = await ledger.append_to_ledger(session, *reads[3], guard)
            assert second is not None and second.seq == first[-1].seq + 1
            assert second.prev_hash == first[-1].hash
            # Neither the lock nor the head again, nor the known ids apart: one insert that
            # skips an event already in the ledger.
            assert len(statements) == 1, statements
            assert await ledger.append_to_ledger(session, *reads[3], guard) is None
            assert not any("pg_advisory" in s for s in statements)

            savepoint = await session.begin_nested()
            assert await ledger.append_to_ledger(session, *reads[4], guard)
            await savepoint.rollback()
            third = await ledger.append_to_ledger(session, *reads[5], guard)
            assert third is not None and third.seq == second.seq + 1
            assert third.prev_hash == second.hash
        async with database.transaction() as session:
            # Each event once: those appended are skipped, the one rolled back goes in now.
            again = await ledger.append_many(session, reads, guard)
            assert [e.entry.event_id for e in again] == [reads[4][0].id]
    finally:
        await database.dispose()
    answer = await verify(stack, "?full=true")
    assert answer["ok"] is True and answer["head_seq"] >= again[0].seq, answer


async def test_an_unsigned_tail_changed_fails_and_cut_fails_once_a_checkpoint_covers_it(
    stack: Stack, routing_sql: AsyncEngine
) -> None:
    """The entries after the latest checkpoint carry no signature of their own: one changed
    there fails verification by the chain alone; cut, they are missed until the next
    checkpoint covers them, and from then on the cut fails verification, the command line's
    too (contracts/audit-ledger.md)."""
    from sqlalchemy.ext.asyncio import AsyncSession

    from services.routing.usecases import ledger

    reads = [case_viewed(f"TB-TAIL-{n:03d}", 40_000 + n) for n in range(3)]
    guard = routing_guard(stack)
    async with ledger_held(routing_sql) as held:
        # Appended on the connection holding the ledger's lock: nothing checkpoints them yet.
        session = AsyncSession(bind=held, expire_on_commit=False)
        async with session.begin():
            tail = await ledger.append_many(session, reads, guard)
        await session.close()
        latest = (await verify(stack))["checkpoint"]
        assert latest is None or latest["seq"] < tail[0].seq, latest
        async with routing_sql.connect() as sql:
            stored = await sql.execute(
                text("SELECT signer, signature FROM ledger WHERE seq >= :seq"),
                {"seq": tail[0].seq},
            )
            assert {tuple(row) for row in stored} == {(None, None)}

        middle = tail[1]
        change = "UPDATE ledger SET subject = :subject WHERE seq = :seq"
        forged = {"subject": "TB-FORGED", "seq": middle.seq}
        original = {"subject": middle.entry.subject, "seq": middle.seq}
        async with tampered(routing_sql, [(change, forged)], [(change, original)]):
            answer = await verify(stack, "?full=true")
            assert answer["ok"] is False and answer["first_bad_seq"] == middle.seq, answer
            direct = await verify_database(stack.settings)
            assert (direct.ok, direct.verdict.first_bad_seq) == (False, middle.seq)
        assert (await verify(stack, "?full=true"))["ok"] is True

    # The lock given back: the next checkpoint covers the tail, and a cut no longer goes unseen.
    await checkpointed(stack, tail[-1].seq)
    async with ledger_held(routing_sql), cut(routing_sql, tail[0].seq - 1):
        answer = await verify(stack)
        assert answer["ok"] is False and answer["first_bad_seq"] == tail[0].seq, answer
        assert "missing" in answer["problem"], answer
        code, printed = await tongban_audit_verify(stack)
        assert code == 1 and f"first bad seq {tail[0].seq}" in printed, printed
    assert (await verify(stack, "?full=true"))["ok"] is True


async def test_enough_entries_appended_call_for_a_checkpoint_once_committed(
    stack: Stack, routing_sql: AsyncEngine
) -> None:
    """CheckpointSchedule: once `entries` entries wait past the head the last checkpoint run
    looked at, the commit that appended them wakes the checkpoint job; a rollback wakes
    nobody."""
    from sqlalchemy.ext.asyncio import AsyncSession

    from services.routing.usecases import ledger

    schedule = ledger.CheckpointSchedule(entries=3)
    reads = [case_viewed(f"TB-DUE-{n:03d}", 50_000 + n) for n in range(4)]
    guard = routing_guard(stack)
    # Appended on the connection holding the ledger's lock: nobody else appends meanwhile.
    async with ledger_held(routing_sql) as held:

        async def append(batch: list[tuple[Any, Any]], *, commit: bool = True) -> int:
            async with AsyncSession(bind=held) as session:
                appended = await ledger.append_many(session, batch, guard)
                schedule.appended(session, appended[-1].seq)
                assert not schedule.due.is_set()  # not before the commit
                await (session.commit() if commit else session.rollback())
            return appended[-1].seq

        # The whole ledger waited past 0: the first commit calls for a checkpoint; then, as
        # the checkpoint job does when it runs, the call is taken and the head looked at.
        schedule.looked(await append(reads[:1]))
        assert schedule.due.is_set()
        schedule.due.clear()
        await append(reads[1:3])
        assert not schedule.due.is_set()  # two waiting: not yet
        await append(reads[3:4], commit=False)
        assert not schedule.due.is_set()  # rolled back: still two
        await append(reads[3:4])
        assert schedule.due.is_set()


async def test_an_entry_of_format_1_keeps_its_signature_which_still_counts(
    stack: Stack, routing_sql: AsyncEngine
) -> None:
    """A ledger begun before checkpoints took over the signing: an entry that carries routing's
    signature of its own, followed by entries of format 2, verifies; its signature replaced by
    another (the chain untouched) fails verification at that entry."""
    from sqlalchemy.ext.asyncio import AsyncSession

    from services.routing.usecases import ledger as appending
    from shared.audit import ledger

    signer = stack.settings.key_ring().signer("routing")
    envelope, read = case_viewed("TB-FORMAT1-001", 60_000)
    guard = routing_guard(stack)
    async with ledger_held(routing_sql) as held:
        async with routing_sql.connect() as sql:
            last = text("SELECT seq, hash FROM ledger ORDER BY seq DESC LIMIT 1")
            stored = (await sql.execute(last)).first()
        # The ledger may be empty on a stack just started: then this is entry 1.
        head = ledger.Anchor(stored.seq, stored.hash) if stored else ledger.GENESIS
        entry = appending.entry_of(head.seq + 1, envelope, read)
        old = ledger.seal(entry, head.hash, lambda message: (signer.kid, signer.sign(message)))
        # Format 1: the entry carries routing's signature of its own.
        row = appending.row_of(old, envelope) | {"signer": old.signer, "signature": old.signature}
        columns = ", ".join(row)
        values = ", ".join(f":{name}" for name in row)
        await held.execute(text(f"INSERT INTO ledger ({columns}) VALUES ({values})"), row)
        await held.commit()
        session = AsyncSession(bind=held, expire_on_commit=False)
        async with session.begin():
            after = await appending.append_many(
                session, [case_viewed("TB-FORMAT1-002", 60_001)], guard
            )
        await session.close()
        assert after[0].prev_hash == old.hash and after[0].signature is None

        answer = await verify(stack, "?full=true")
        assert answer["ok"] is True and answer["head_seq"] == after[0].seq, answer
        async with stack.client("routing", operator_token(stack)) as routing:
            shown = (await routing.get("/v1/audit/applications/TB-FORMAT1-001")).json()
        (signed,) = shown["entries"]
        assert signed["signer"] == signer.kid
        assert base64.b64decode(signed["signature"]) == old.signature

        other = signer.sign(b"something else")
        change = "UPDATE ledger SET signature = :signature WHERE seq = :seq"
        forged = {"signature": other, "seq": entry.seq}
        original = {"signature": old.signature, "seq": entry.seq}
        async with tampered(routing_sql, [(change, forged)], [(change, original)]):
            answer = await verify(stack, "?full=true")
            assert answer["ok"] is False and answer["first_bad_seq"] == entry.seq, answer
            assert "signature" in answer["problem"], answer
        assert (await verify(stack, "?full=true"))["ok"] is True


async def test_a_tail_rewritten_or_cut_with_the_database_alone_is_never_checkpointed(
    stack: Stack, routing_sql: AsyncEngine, caplog: pytest.LogCaptureFixture
) -> None:
    """An intruder with routing's database but not its key ring rewrites an entry of the unsigned
    tail consistently (content changed, it and the entries after it re-hashed): a third party
    cannot tell before a checkpoint covers it, but the entry's MAC no longer holds, so routing
    refuses to checkpoint the forgery, logs it, and its verification names the entry. The tail
    cut at its end instead: routing refuses to checkpoint a head below what it appended."""
    import dataclasses
    import logging

    from sqlalchemy.ext.asyncio import AsyncSession

    from services.routing.usecases import ledger as appending
    from shared.audit import ledger
    from shared.crypto.personal import PersonalData
    from shared.messaging.outbox import Outbox

    ring = stack.settings.key_ring()
    signer = ring.signer("routing")
    outbox = Outbox("/tongban/routing", personal=PersonalData(ring, service="routing"))
    guard = routing_guard(stack)
    reads = [case_viewed(f"TB-MAC-{n:03d}", 70_000 + n) for n in range(3)]

    async def checkpoint(held: AsyncConnection) -> ledger.Anchor | None:
        """What routing's checkpoint job would sign now (rolled back: nothing is published)."""
        session = AsyncSession(bind=held, expire_on_commit=False)
        try:
            async with session.begin() as transaction:
                row = await appending.checkpoint_ledger(session, outbox, signer, guard)
                await transaction.rollback()
        finally:
            await session.close()
        return ledger.Anchor(row.seq, row.hash) if row else None

    async with ledger_held(routing_sql) as held:
        session = AsyncSession(bind=held, expire_on_commit=False)
        async with session.begin():
            tail = await appending.append_many(session, reads, guard)
        await session.close()
        async with routing_sql.connect() as sql:
            macs = (
                (
                    await sql.execute(
                        text("SELECT mac FROM ledger WHERE seq >= :s"), {"s": tail[0].seq}
                    )
                )
                .scalars()
                .all()
            )
        assert len(macs) == 3 and all(mac is not None and len(mac) == 32 for mac in macs)

        # Entry 2 of the tail forged, it and entry 3 re-hashed; the MACs left as they were.
        first, middle, last = tail
        forged = dataclasses.replace(middle.entry, subject="TB-FORGED")
        forged_hash = ledger.entry_hash(first.hash, forged)
        last_hash = ledger.entry_hash(forged_hash, last.entry)
        rewrite = (
            "UPDATE ledger SET subject = :subject, prev_hash = :prev, hash = :hash WHERE seq = :seq"
        )
        do = [
            (
                rewrite,
                {
                    "subject": "TB-FORGED",
                    "prev": first.hash,
                    "hash": forged_hash,
                    "seq": middle.seq,
                },
            ),
            (
                rewrite,
                {
                    "subject": last.entry.subject,
                    "prev": forged_hash,
                    "hash": last_hash,
                    "seq": last.seq,
                },
            ),
        ]
        undo = [
            (
                rewrite,
                {"subject": e.entry.subject, "prev": e.prev_hash, "hash": e.hash, "seq": e.seq},
            )
            for e in (middle, last)
        ]
        async with tampered(routing_sql, do, undo):
            # The chain alone holds: what a third party (no MAC key) sees until a checkpoint.
            code, printed = await tongban_audit_verify(stack)
            assert code == 0, printed
            with caplog.at_level(logging.ERROR, logger=appending.__name__):
                assert await checkpoint(held) is None
            assert f"entry {middle.seq} does not carry routing's MAC" in caplog.text
            answer = await verify(stack, "?full=true")
            assert answer["ok"] is False and answer["first_bad_seq"] == middle.seq, answer
            assert "MAC" in answer["problem"], answer
        assert await checkpoint(held) == ledger.Anchor(last.seq, last.hash)

        # The last entry cut (with nothing else to tell): the chain ends below what this routing
        # appended, so it signs nothing.
        caplog.clear()
        async with cut(routing_sql, middle.seq):
            with caplog.at_level(logging.ERROR, logger=appending.__name__):
                assert await checkpoint(held) is None
            assert f"the chain ends at {middle.seq}" in caplog.text
            assert f"appended up to entry {last.seq}" in caplog.text
        assert await checkpoint(held) == ledger.Anchor(last.seq, last.hash)
    assert (await verify(stack, "?full=true"))["ok"] is True
