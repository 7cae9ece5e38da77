"""The audit ledger's chain (shared.audit.ledger): canonical bytes, hashes, signatures, and
verification that stops at the first entry changed, removed or put out of order. Entries are
hashed only (format 2), held by the signed checkpoints after them; entries of format 1 keep
their own signatures, which still verify."""

from __future__ import annotations

import base64
import dataclasses
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from services.routing import consumers
from shared.audit import ledger
from shared.audit.macs import LEDGER_MAC_KEY, EntryMacs
from shared.crypto.keyring import KeyRing
from shared.crypto.sm import sm2_verify, sm3
from shared.messaging import events, topics
from shared.messaging.channels import CHANNELS
from shared.messaging.subscriptions import EveryType, Subscription
from shared.reference.localities import locality_codes

T0 = datetime(2026, 3, 2, 1, 2, 3, 4005, tzinfo=UTC)


def entry(seq: int, **changes: object) -> ledger.Entry:
    base = ledger.Entry(
        seq=seq,
        at=T0 + timedelta(seconds=seq),
        topic="tongban.intake.events",
        partition=seq % 3,
        offset=100 + seq,
        event_id=f"0000000{seq}-4b1e-4c4a-9d51-2d6f5b3e8a10",
        event_type="gov.tongban.application.accepted.v1",
        source="/tongban/intake",
        subject=f"TB341200-20260302-00000{seq}",
        event_time=T0,
        record_sm3=sm3(f"payload {seq}".encode()).hex(),
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def chain(length: int, first: int = 1, prev: str = ledger.GENESIS_HASH) -> list[ledger.Sealed]:
    sealed: list[ledger.Sealed] = []
    for seq in range(first, first + length):
        sealed.append(ledger.seal(entry(seq), prev))
        prev = sealed[-1].hash
    return sealed


def test_sm3_is_the_standard_hash() -> None:
    # GB/T 32905-2016, example 1.
    assert sm3(b"abc").hex() == "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"


def test_the_canonical_bytes_of_an_entry_are_sorted_compact_json() -> None:
    one = entry(
        1,
        subject="TB341200-20260302-000001",
        event_time=T0.astimezone(timezone(timedelta(hours=8))),
    )
    assert ledger.entry_bytes(one) == (
        b'{"at":"2026-03-02T01:02:04.004005Z",'
        b'"event_id":"00000001-4b1e-4c4a-9d51-2d6f5b3e8a10",'
        b'"event_time":"2026-03-02T01:02:03.004005Z",'
        b'"event_type":"gov.tongban.application.accepted.v1",'
        b'"offset":101,"partition":1,'
        b'"record_sm3":"' + one.record_sm3.encode() + b'",'
        b'"seq":1,"source":"/tongban/intake",'
        b'"subject":"TB341200-20260302-000001","topic":"tongban.intake.events"}'
    )


def test_an_entry_hash_is_sm3_of_the_previous_hash_and_the_entry() -> None:
    first, second = chain(2)
    assert first.prev_hash == "00" * 32
    assert first.hash == sm3(bytes(32) + ledger.entry_bytes(first.entry)).hex()
    assert second.prev_hash == first.hash
    assert second.hash == sm3(bytes.fromhex(first.hash) + ledger.entry_bytes(second.entry)).hex()


def test_times_are_utc_with_microseconds_and_must_be_aware() -> None:
    assert ledger.timestamp(datetime(2026, 1, 1, 8, tzinfo=timezone(timedelta(hours=8)))) == (
        "2026-01-01T00:00:00.000000Z"
    )
    with pytest.raises(ValueError):
        ledger.timestamp(datetime(2026, 1, 1))


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"subject": '不动产登记 \u2028\x7f \U0001f600\ue000 "\\\n\x01'},
        {"offset": 2**53 - 1, "partition": -1},
        {"at": datetime(999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)},
        {"event_time": datetime(1, 1, 1, 8, tzinfo=timezone(timedelta(hours=8)))},
    ],
    ids=["plain", "non-ascii-and-escapes", "largest-safe", "year-999", "year-1"],
)
def test_the_fast_forms_of_times_and_entries_are_the_jcs_and_strftime_ones(
    changes: dict[str, object],
) -> None:
    """Entry bytes and times take quicker paths than rfc8785 and strftime; a hash that came
    out differently would break every chain already stored, so they are held to the slow ones."""
    import rfc8785

    one = entry(5, **changes)
    assert ledger.entry_bytes(one) == rfc8785.dumps(
        {
            **one.canonical(),
            "at": one.at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "event_time": one.event_time.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        }
    )


def test_a_head_statement_is_canonical_json_of_seq_hash_and_time() -> None:
    assert ledger.head_statement(7, "ab" * 32, T0) == (
        b'{"at":"2026-03-02T01:02:03.004005Z","hash":"' + b"ab" * 32 + b'",'
        b'"seq":7,"statement":"tongban.audit.head.v1"}'
    )


def test_an_intact_chain_verifies_from_the_start_or_from_a_signed_anchor() -> None:
    entries = chain(5)
    verdict = ledger.verify_chain(entries)
    assert verdict == ledger.Verdict(True, 5, None, ledger.Anchor(5, entries[-1].hash))
    from_three = ledger.verify_chain(entries[3:], ledger.Anchor(3, entries[2].hash))
    assert from_three.ok and from_three.checked == 2
    assert ledger.verify_chain([]) == ledger.Verdict(True, 0, None, ledger.GENESIS)


def test_a_changed_field_breaks_the_chain_at_that_entry() -> None:
    entries = chain(5)
    entries[2] = dataclasses.replace(
        entries[2], entry=dataclasses.replace(entries[2].entry, event_type="gov.x.v1")
    )
    verdict = ledger.verify_chain(entries)
    assert not verdict.ok and verdict.first_bad_seq == 3 and verdict.checked == 3
    assert verdict.head.seq == 2


def test_a_rehashed_entry_breaks_the_chain_at_the_entry_after_it() -> None:
    entries = chain(5)
    forged = ledger.seal(
        dataclasses.replace(entries[2].entry, event_type="gov.x.v1"), entries[1].hash
    )
    entries[2] = forged
    assert ledger.verify_chain(entries).first_bad_seq == 4
    # … unless a signed checkpoint of it is known: then at the entry itself.
    checkpoints = {3: chain(5)[2].hash}
    assert ledger.verify_chain(entries, checkpoints=checkpoints).first_bad_seq == 3


def test_a_removed_entry_is_the_first_bad_one() -> None:
    entries = chain(5)
    del entries[1]
    verdict = ledger.verify_chain(entries)
    assert (verdict.ok, verdict.first_bad_seq) == (False, 2)
    assert "missing" in (verdict.problem or "")


def test_entries_removed_at_the_end_are_caught_by_a_checkpoint_beyond_it() -> None:
    entries = chain(5)
    assert ledger.verify_chain(entries[:3]).ok  # nothing tells without a checkpoint
    checkpoints = {5: entries[4].hash}
    verdict = ledger.verify_chain(entries[:3], checkpoints=checkpoints)
    assert (verdict.ok, verdict.first_bad_seq) == (False, 4)


def test_two_entries_swapped_break_the_chain_at_the_first_of_them() -> None:
    entries = chain(5)
    second, fourth = entries[1], entries[3]
    # The rows trade places: each takes the other's seq, as an UPDATE of the seqs would do.
    entries[1] = dataclasses.replace(fourth, entry=dataclasses.replace(fourth.entry, seq=2))
    entries[3] = dataclasses.replace(second, entry=dataclasses.replace(second.entry, seq=4))
    assert ledger.verify_chain(entries).first_bad_seq == 2
    # Swapped without changing seqs (read in the order stored): the same.
    swapped = chain(5)
    swapped[1], swapped[3] = swapped[3], swapped[1]
    assert ledger.verify_chain(swapped).first_bad_seq == 2


def test_entries_of_format_1_keep_their_signatures_and_still_verify(tmp_path: Path) -> None:
    """A ledger begun before checkpoints took over the signing: its first entries carry
    routing's signature each (and a bad one still fails), the entries after them none."""
    ring = KeyRing(tmp_path, "secret", development=True)
    signer = ring.signer("routing")

    def sign(message: bytes) -> tuple[str, bytes]:
        return signer.kid, signer.sign(message)

    entries: list[ledger.Sealed] = []
    prev = ledger.GENESIS_HASH
    for seq in (1, 2, 3):
        entries.append(ledger.seal(entry(seq), prev, sign))
        prev = entries[-1].hash
    entries += chain(2, first=4, prev=prev)  # format 2: hashed only
    assert [e.signature is None for e in entries] == [False, False, False, True, True]

    def signed(sealed: ledger.Sealed) -> bool:
        assert sealed.signer is not None and sealed.signature is not None  # asked of format 1
        statement = ledger.head_statement(sealed.seq, sealed.hash, sealed.entry.at)
        return ring.verify(sealed.signer, statement, sealed.signature)

    assert ledger.verify_chain(entries, signature_ok=signed).ok
    # What a third party does with trust-list.json: SM2 with SM3, default ID, raw r ‖ s.
    public = ring.public_key(signer.kid)
    assert public is not None and public.algorithm == "SM2-SM3"
    first = entries[0]
    statement = ledger.head_statement(1, first.hash, first.entry.at)
    assert first.signature is not None
    assert sm2_verify(public.public_key, statement, first.signature)

    entries[1] = dataclasses.replace(entries[1], signature=entries[0].signature)
    verdict = ledger.verify_chain(entries, signature_ok=signed)
    assert (verdict.ok, verdict.first_bad_seq) == (False, 2)


def test_an_unsigned_tail_changed_breaks_the_chain_and_cut_is_caught_by_the_next_checkpoint() -> (
    None
):
    """Entries after the latest checkpoint carry no signature: a field changed there still
    breaks the chain; entries cut there are caught as soon as a checkpoint covering them was
    published (until then, only by the chain)."""
    entries = chain(8)
    held = published((5, entries[4].hash))  # 6–8: the unsigned tail
    assert all(e.signature is None for e in entries)
    changed = list(entries)
    changed[6] = dataclasses.replace(
        entries[6], entry=dataclasses.replace(entries[6].entry, subject="TB-OTHER")
    )
    verdict = ledger.verify_chain(changed, checkpoints=held.hashes())
    assert (verdict.ok, verdict.first_bad_seq, verdict.head.seq) == (False, 7, 6)
    # Cut before the next checkpoint: the chain alone cannot tell (contracts/audit-ledger.md).
    assert ledger.verify_chain(entries[:6], checkpoints=held.hashes()).ok
    assert ledger.cut_short(6, held) is None
    # Once the next checkpoint covers the tail, the same cut fails.
    held.add(ledger.Checkpoint(8, entries[7].hash, T0 + timedelta(seconds=9), "routing#1"))
    verdict = ledger.verify_chain(entries[:6], checkpoints=held.hashes())
    assert (verdict.ok, verdict.first_bad_seq) == (False, 7)
    cut = ledger.cut_short(6, held)
    assert cut is not None and cut.problem.startswith("entries 7–8 missing")


def test_a_forged_head_holds_nothing(tmp_path: Path) -> None:
    """A checkpoint counts only when its statement carries routing's signature: one signed by
    another key, or whose seq or hash were changed after signing, is refused."""
    from shared.audit.checkpoints import statement_signed

    ring = KeyRing(tmp_path, "secret", development=True)
    entries = chain(3)

    def checkpoint(signer_name: str, signed_seq: int, signed: str, **changes: object) -> bool:
        """Whether a checkpoint signed by `signer_name`, published with `changes`, counts."""
        signer = ring.signer(signer_name)
        signature = signer.sign(ledger.head_statement(signed_seq, signed, T0))
        payload = events.LedgerCheckpoint(
            seq=signed_seq,
            hash=signed,
            at=T0,
            signer=signer.kid,
            signature=base64.b64encode(signature).decode("ascii"),
        )
        return statement_signed(ring, payload.model_copy(update=changes))

    assert checkpoint("routing", 3, entries[2].hash)
    assert not checkpoint("intake", 3, entries[2].hash)  # a key that does not speak for routing
    assert not checkpoint("routing", 3, entries[2].hash, seq=30)
    assert not checkpoint("routing", 3, entries[2].hash, hash="f" * 64)


def test_the_ledger_reads_every_topic_but_its_own_checkpoints() -> None:
    read = set(consumers.ledger_topics())
    assert topics.AUDIT_CHECKPOINTS not in read
    assert set(topics.approval_request_topics(locality_codes())) <= read
    for channel in CHANNELS:
        if channel.address != topics.AUDIT_CHECKPOINTS and "{" not in channel.address:
            assert channel.address in read
    assert not any(topic.endswith(topics.DEAD_LETTER_SUFFIX) for topic in read)


async def test_a_catch_all_subscription_answers_every_type_and_keeps_listed_ones() -> None:
    async def every(payload: object, ctx: object) -> None: ...

    async def opened(payload: object, ctx: object) -> None: ...

    subscription = Subscription(
        "all",
        (topics.APPROVAL_EVENTS,),
        handlers={events.CaseOpened: opened},
        every_type=every,
    )
    table = subscription.by_type
    assert isinstance(table, EveryType)
    assert table.get(events.CaseOpened.event_type) is opened
    assert table.get(events.CaseViewed.event_type) is every
    assert table.get("gov.example.unknown.v1") is every
    assert list(table) == [events.CaseOpened.event_type]
    plain = Subscription("some", (topics.APPROVAL_EVENTS,), handlers={events.CaseOpened: opened})
    assert plain.by_type.get(events.CaseViewed.event_type) is None


def test_the_checkpoints_topic_is_kept_for_ever_and_never_compacted() -> None:
    """Evidence against routing must outlive any retention period: the launcher's topic settings
    and the generated KafkaTopic both keep every checkpoint record for good."""
    from shared.messaging.kafka import _topic_configs
    from tooling.k8s.strimzi import _topic

    local = _topic_configs(topics.AUDIT_CHECKPOINTS)
    assert local == {"cleanup.policy": "delete", "retention.ms": "-1", "retention.bytes": "-1"}
    deployed = _topic(topics.AUDIT_CHECKPOINTS, 3)["spec"]["config"]
    assert deployed["cleanup.policy"] == "delete"
    assert deployed["retention.ms"] == -1 and deployed["retention.bytes"] == -1
    # The other event topics keep the broker's time-based retention.
    assert "retention.ms" not in _topic_configs(topics.INTAKE_EVENTS)


def published(*pairs: tuple[int, str]) -> ledger.PublishedCheckpoints:
    checkpoints = ledger.PublishedCheckpoints()
    for seq, hash_ in pairs:
        checkpoints.add(ledger.Checkpoint(seq, hash_, T0 + timedelta(seconds=seq), "routing#1"))
    return checkpoints


def test_a_chain_cut_short_or_wiped_after_checkpoints_were_published_is_caught() -> None:
    entries = chain(5)
    held = published((3, entries[2].hash), (5, entries[4].hash))
    assert ledger.cut_short(5, held) is None
    cut = ledger.cut_short(3, held)
    assert cut is not None and cut.first_bad_seq == 4
    assert cut.problem.startswith("entries 4–5 missing: the chain ends at 3")
    wiped = ledger.cut_short(0, held)
    assert wiped is not None and wiped.first_bad_seq == 1
    assert "the ledger is empty" in wiped.problem and "checkpoint of entry 5" in wiped.problem
    # Nothing published yet: an empty ledger is just empty.
    assert ledger.cut_short(0, ledger.PublishedCheckpoints()) is None


def test_two_published_checkpoints_of_one_entry_that_disagree_mean_a_rewrite() -> None:
    held = published((3, "a" * 64), (4, "b" * 64))
    assert ledger.rewritten(held) is None
    held.add(ledger.Checkpoint(3, "c" * 64, T0, "routing#1"))  # routing signed another chain
    held.add(ledger.Checkpoint(4, "b" * 64, T0, "routing#1"))  # the same again: harmless
    finding = ledger.rewritten(held)
    assert finding is not None and finding.first_bad_seq == 3
    assert "two different checkpoints of entry 3" in finding.problem
    # The snapshot a verification works on does not change as the follower adds more.
    snapshot = held.snapshot()
    held.add(ledger.Checkpoint(9, "d" * 64, T0, "routing#1"))
    assert 9 not in snapshot.by_seq and len(snapshot.conflicts) == 1


def test_stored_entries_are_compared_with_the_published_checkpoints() -> None:
    entries = chain(5)
    held = published((2, entries[1].hash), (4, entries[3].hash))
    stored = {e.seq: e.hash for e in entries}
    assert ledger.disagreement(stored, held.by_seq.values()) is None
    changed = ledger.disagreement({**stored, 4: "e" * 64}, held.by_seq.values())
    assert changed is not None and changed.first_bad_seq == 4
    assert "differs from the checkpoint" in changed.problem
    removed = ledger.disagreement({1: entries[0].hash}, held.by_seq.values())
    assert removed is not None and removed.first_bad_seq == 2 and "missing" in removed.problem


def test_routing_may_append_to_and_read_its_checkpoints_but_not_delete_them() -> None:
    from tooling.kafka_access import tongban_acl_table
    from tooling.kafka_acl import Operation, ResourceType

    table = tongban_acl_table()

    def may(operation: Operation) -> bool:
        return table.allows("routing", ResourceType.TOPIC, topics.AUDIT_CHECKPOINTS, operation)

    assert may(Operation.WRITE) and may(Operation.READ)
    assert not may(Operation.DELETE) and not may(Operation.ALTER)
    assert not may(Operation.ALTER_CONFIGS)  # nor shorten its retention


async def test_the_checkpoint_job_is_woken_before_its_interval_once_enough_entries_wait() -> None:
    """The periodic job's pause ends when its wake event is set (CheckpointSchedule sets it
    once enough entries were appended), not only when its interval is over."""
    import asyncio
    import time

    from shared.runtime import pause

    stopping, wake = asyncio.Event(), asyncio.Event()
    asyncio.get_running_loop().call_later(0.05, wake.set)
    started = time.monotonic()
    await pause(30.0, stopping, wake)
    assert time.monotonic() - started < 5.0
    started = time.monotonic()
    await pause(0.05, stopping, None)
    assert 0.04 <= time.monotonic() - started < 5.0


def test_the_watchers_health_is_the_age_of_its_heartbeat(tmp_path: Path) -> None:
    """Its health check (python -m tooling.heartbeat): healthy only while its loop touches the
    file, as compose's health check and the Kubernetes probes run it."""
    import os
    import subprocess
    import sys
    import time

    def check() -> int:
        command = [sys.executable, "-m", "tooling.heartbeat", str(heartbeat), "30"]
        return subprocess.run(command, check=False).returncode

    heartbeat = tmp_path / "audit-watch.alive"
    assert check() == 1  # not started yet
    heartbeat.touch()
    assert check() == 0
    stuck = time.time() - 31
    os.utime(heartbeat, (stuck, stuck))
    assert check() == 1


# --- routing's MAC of the unsigned tail ------------------------------------------------------

MAC_KEY = bytes(range(32))
MACS = EntryMacs(MAC_KEY, (MAC_KEY,))


def maced(length: int, macs: EntryMacs = MACS) -> list[ledger.Sealed]:
    sealed: list[ledger.Sealed] = []
    prev = ledger.GENESIS_HASH
    for seq in range(1, length + 1):
        sealed.append(ledger.seal(entry(seq), prev, macs=macs))
        prev = sealed[-1].hash
    return sealed


def rewritten_from(entries: list[ledger.Sealed], seq: int) -> list[ledger.Sealed]:
    """What someone with routing's database but not its key ring can do: an entry changed, it
    and every entry after it re-hashed, their MACs kept (they cannot make new ones)."""
    forged = list(entries[: seq - 1])
    prev = forged[-1].hash if forged else ledger.GENESIS_HASH
    for sealed in entries[seq - 1 :]:
        changed = sealed.entry
        if sealed.seq == seq:
            changed = dataclasses.replace(changed, subject="TB-FORGED")
        again = ledger.seal(changed, prev)
        forged.append(dataclasses.replace(again, mac=sealed.mac))
        prev = again.hash
    return forged


def test_an_entry_mac_is_hmac_sm3_of_its_hash_under_routings_key() -> None:
    (first,) = maced(1)
    message = b"tongban.audit.entry-mac.v1|" + bytes.fromhex(first.hash)
    # RFC 2104 written out (SM3's block is 64 bytes): the MAC is the standard HMAC-SM3.
    key = MAC_KEY.ljust(64, b"\0")
    inner = sm3(bytes(k ^ 0x36 for k in key) + message)
    assert first.mac == sm3(bytes(k ^ 0x5C for k in key) + inner)
    assert len(first.mac) == 32 and MACS.holds(first.hash, first.mac)
    # Another key (an attacker's guess, or another deployment's) does not make it.
    other = EntryMacs(bytes(32), (bytes(32),))
    assert not other.holds(first.hash, first.mac)


def test_a_tail_rewritten_and_rehashed_holds_by_the_chain_but_not_by_its_macs() -> None:
    entries = maced(8)
    assert ledger.verify_chain(entries, macs=MACS, macs_required=True).ok
    forged = rewritten_from(entries, 6)
    # A third party (no key) cannot tell before a checkpoint covers it...
    assert ledger.verify_chain(forged).ok
    # ... routing can: the first rewritten entry.
    verdict = ledger.verify_chain(forged, macs=MACS)
    assert (verdict.ok, verdict.first_bad_seq, verdict.head.seq) == (False, 6, 5)
    assert verdict.problem == "entry 6 does not carry routing's MAC"


def test_macs_stripped_from_a_rewritten_tail_are_missed_where_they_are_due() -> None:
    entries = maced(8)
    stripped = [dataclasses.replace(e, mac=None) for e in rewritten_from(entries, 6)]
    # After an entry that carried one, a MAC-less entry is bad...
    verdict = ledger.verify_chain(entries[:5] + stripped[5:], macs=MACS)
    assert (verdict.ok, verdict.first_bad_seq) == (False, 6)
    # ... and anywhere once routing requires them (its checkpointer, from its first checkpoint:
    # the tail checked starts after the last checkpoint, here entry 5).
    from_anchor = ledger.Anchor(5, entries[4].hash)
    assert ledger.verify_chain(stripped[5:], from_anchor, macs=MACS).ok
    verdict = ledger.verify_chain(stripped[5:], from_anchor, macs=MACS, macs_required=True)
    assert (verdict.ok, verdict.first_bad_seq) == (False, 6)


def test_entries_from_before_the_macs_and_of_format_1_are_accepted_as_they_are(
    tmp_path: Path,
) -> None:
    ring = KeyRing(tmp_path, "test", development=True)
    signer = ring.signer("routing")
    old = ledger.seal(entry(1), ledger.GENESIS_HASH, lambda m: (signer.kid, signer.sign(m)))
    unmaced = ledger.seal(entry(2), old.hash)
    new = ledger.seal(entry(3), unmaced.hash, macs=MACS)
    assert ledger.verify_chain([old, unmaced, new], macs=MACS).ok
    # A signed entry needs no MAC even where MACs are required.
    assert ledger.verify_chain([old], macs=MACS, macs_required=True).ok
    assert not ledger.verify_chain([old, unmaced], macs=MACS, macs_required=True).ok


def test_a_rotated_mac_key_still_checks_the_macs_of_the_one_before() -> None:
    older, newer = bytes(range(32)), bytes(range(1, 33))
    entries = maced(3, EntryMacs(older, (older,)))
    assert ledger.verify_chain(entries, macs=EntryMacs(newer, (older, newer))).ok
    assert not ledger.verify_chain(entries, macs=EntryMacs(newer, (newer,))).ok


def test_routing_holds_a_ledger_mac_key_of_its_own() -> None:
    from shared.crypto.workloads import workload_keys

    assert workload_keys("routing")[LEDGER_MAC_KEY] == "HMAC-SM3"
    for other in ("intake", "delivery"):
        assert LEDGER_MAC_KEY not in workload_keys(other)
    assert LEDGER_MAC_KEY not in workload_keys("approval", ["340100"])
