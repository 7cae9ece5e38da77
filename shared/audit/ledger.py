"""The audit ledger (区块链信任机制): the rules of its hash chain, pure functions over plain values.

Routing appends every event it reads from every topic (and so every recorded read of an
applicant's personal data: `case.viewed`, `case.material_read`) to one chain. Each entry's hash
is SM3 over the previous entry's hash and the entry's canonical bytes; routing signs the head of
the chain with its SM2 key in a checkpoint it publishes every few seconds or every
`ledger_checkpoint_entries` entries, whichever comes first (entries appended before format 2 also
carry a signature each; newer ones are hashed only, so a batch of them costs one lock and SM3
per entry). Whoever holds a signed head can hold routing to every entry before it: changing,
removing or reordering one changes every hash after it. The entries after the latest checkpoint
are held by the chain, and by routing's MAC of each (shared.audit.macs), until the next one
covers them. contracts/audit-ledger.md tells a third
party how to recompute all of it; this module is the reference, in shared/ because routing
chains and verifies with it and the audit tools (`tongban audit`) recompute with the same code.

Canonical bytes of an entry (`entry_bytes`): the UTF-8 JSON object of exactly these members,
keys sorted by code point, no insignificant whitespace, non-ASCII characters as themselves
(what RFC 8785 produces for strings and integers; no member is a float):

    at          when routing appended the entry, `YYYY-MM-DDTHH:MM:SS.ffffffZ` (UTC, 6 digits)
    event_id    the CloudEvent `ce_id`
    event_time  the CloudEvent `ce_time`, in the same UTC form as `at`
    event_type  the CloudEvent `ce_type`
    offset      the record's offset in its partition (integer)
    partition   the record's partition (integer)
    record_sm3  SM3 of the record value (the JSON payload as it was on the topic), lowercase hex
    seq         the entry's position in the chain, 1, 2, 3, … without gaps (integer)
    source      the CloudEvent `ce_source`
    subject     the CloudEvent `ce_subject` (the application number for application events)
    topic       the Kafka topic the record was read from

    hash(entry n) = lowercase hex of SM3(bytes of hash(entry n-1) ‖ canonical bytes of entry n)

with 32 zero bytes before the first entry (`GENESIS_HASH`). A signed head (`head_statement`) is
the canonical JSON of {"at", "hash", "seq", "statement": "tongban.audit.head.v1"}.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

import orjson

from shared.audit.macs import EntryMacs
from shared.bounds import MAX_SAFE_INTEGER
from shared.canonical import canonical_json
from shared.crypto.sm import sm3

GENESIS_HASH = "00" * 32
HEAD_STATEMENT = "tongban.audit.head.v1"
# The key whose signatures the ledger carries (the key ring's `routing#<n>` keys).
LEDGER_SIGNER = "routing"


def timestamp(moment: datetime) -> str:
    """The one text form of a moment in the ledger: UTC, microseconds, `Z`."""
    if moment.tzinfo is None:
        raise ValueError("ledger times are timezone-aware")
    utc = moment.astimezone(UTC)
    if utc.year < 1000:  # strftime's year unpadded; isoformat (twice as fast) pads it
        return utc.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return utc.isoformat(timespec="microseconds")[:-6] + "Z"


def record_digest(value: bytes) -> str:
    """SM3 of a record's value: what the entry says the event's payload was, byte for byte."""
    return sm3(value).hex()


@dataclass(frozen=True)
class Entry:
    """What the ledger says about one event read from Kafka."""

    seq: int
    at: datetime
    topic: str
    partition: int
    offset: int
    event_id: str
    event_type: str
    source: str
    subject: str
    event_time: datetime
    record_sm3: str

    def canonical(self) -> dict[str, str | int]:
        return {
            "at": timestamp(self.at),
            "event_id": self.event_id,
            "event_time": timestamp(self.event_time),
            "event_type": self.event_type,
            "offset": self.offset,
            "partition": self.partition,
            "record_sm3": self.record_sm3,
            "seq": self.seq,
            "source": self.source,
            "subject": self.subject,
            "topic": self.topic,
        }


def entry_bytes(entry: Entry) -> bytes:
    # ASCII keys, strings and safe integers: orjson with sorted keys writes JCS (shared.canonical)
    # without the walk that proves it of any value; a lone surrogate makes it refuse.
    if max(map(abs, (entry.seq, entry.offset, entry.partition))) <= MAX_SAFE_INTEGER:
        with contextlib.suppress(TypeError):
            return orjson.dumps(entry.canonical(), option=orjson.OPT_SORT_KEYS)
    return canonical_json(entry.canonical())


def entry_hash(prev_hash: str, entry: Entry) -> str:
    """SM3(previous hash ‖ canonical bytes of the entry), lowercase hex."""
    return sm3(bytes.fromhex(prev_hash) + entry_bytes(entry)).hex()


def head_statement(seq: int, hash_: str, at: datetime) -> bytes:
    """What routing signs: "the chain's entry `seq` has hash `hash_`" (as of `at`). A checkpoint
    is this statement about the head, published; entries of format 1 carry it for themselves."""
    return canonical_json(
        {"at": timestamp(at), "hash": hash_, "seq": seq, "statement": HEAD_STATEMENT}
    )


@dataclass(frozen=True)
class Sealed:
    """An entry as stored: with its place in the chain, routing's signature of it if it was
    appended before format 2 (None since: the checkpoints carry the signatures), and routing's
    MAC of it if it was appended since the MACs (shared.audit.macs)."""

    entry: Entry
    prev_hash: str
    hash: str
    signer: str | None = None
    signature: bytes | None = None
    mac: bytes | None = None

    @property
    def seq(self) -> int:
        return self.entry.seq


def seal(
    entry: Entry,
    prev_hash: str,
    sign: Callable[[bytes], tuple[str, bytes]] | None = None,
    *,
    macs: EntryMacs | None = None,
) -> Sealed:
    """Chain `entry` after `prev_hash`, with routing's MAC of it when `macs` is given; with
    `sign(message)` → (key id, signature), sign it as entries of format 1 were (routing no
    longer does: its checkpoints carry the signatures)."""
    hash_ = entry_hash(prev_hash, entry)
    mac = macs.mac(hash_) if macs is not None else None
    if sign is None:
        return Sealed(entry, prev_hash, hash_, mac=mac)
    signer, signature = sign(head_statement(entry.seq, hash_, entry.at))
    return Sealed(entry, prev_hash, hash_, signer, signature, mac)


@dataclass(frozen=True)
class Anchor:
    """A point of the chain taken as true: the seq and hash of the entry before the first one
    checked (the genesis, or a checkpoint whose signature verified)."""

    seq: int
    hash: str


GENESIS = Anchor(0, GENESIS_HASH)


@dataclass(frozen=True)
class Verdict:
    ok: bool
    checked: int
    first_bad_seq: int | None
    head: Anchor
    problem: str | None = None


@dataclass
class ChainVerifier:
    """Checks stored entries fed in seq order, from `anchor` on, and stops at the first bad one.

    An entry is bad when its seq is not the next one (an entry before it is missing: the missing
    seq is the first bad one), its `prev_hash` is not the hash of the entry before it, its hash
    is not what its fields give, its hash differs from a signed checkpoint of the same seq
    (`checkpoints`: seq → hash, of checkpoints whose signatures verified), or it carries a
    signature of its own (format 1) that does not verify (`signature_ok`). An entry without a
    signature (format 2) is held by the chain and the checkpoints after it.

    Routing, which holds the MAC key (`macs`), also finds bad an entry whose MAC does not hold,
    and an unsigned entry without a MAC after one that had it (MACs stripped to hide a rewrite),
    or anywhere when `macs_required` (its checkpointer, once entries before the MACs are
    checkpointed). Entries of format 1 and those appended before the MACs carry none.
    """

    anchor: Anchor = GENESIS
    checkpoints: Mapping[int, str] = field(default_factory=dict)
    signature_ok: Callable[[Sealed], bool] | None = None
    macs: EntryMacs | None = None
    macs_required: bool = False
    checked: int = 0
    head: Anchor = field(init=False)
    first_bad_seq: int | None = field(default=None, init=False)
    problem: str | None = field(default=None, init=False)
    # Whether an entry fed so far carried a MAC (from then on every unsigned one must).
    macs_seen: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        self.head = self.anchor

    @property
    def broken(self) -> bool:
        return self.first_bad_seq is not None

    def feed(self, sealed: Sealed) -> bool:
        """Check the next stored entry; False once the chain is broken (feed no more)."""
        if self.broken:
            return False
        self.checked += 1
        expected = self.head.seq + 1
        if sealed.seq != expected:
            return self._bad(expected, f"entry {expected} is missing (found {sealed.seq} next)")
        if sealed.prev_hash != self.head.hash:
            return self._bad(expected, f"entry {expected} does not follow entry {expected - 1}")
        if entry_hash(self.head.hash, sealed.entry) != sealed.hash:
            return self._bad(expected, f"entry {expected} is not what its hash says")
        if self.checkpoints.get(expected, sealed.hash) != sealed.hash:
            return self._bad(expected, f"entry {expected} differs from the signed checkpoint")
        signed = sealed.signature is not None
        if signed and self.signature_ok is not None and not self.signature_ok(sealed):
            return self._bad(expected, f"entry {expected} does not carry routing's signature")
        if self.macs is not None and not self._mac_holds(sealed):
            return self._bad(expected, f"entry {expected} does not carry routing's MAC")
        self.head = Anchor(expected, sealed.hash)
        return True

    def _mac_holds(self, sealed: Sealed) -> bool:
        assert self.macs is not None
        if sealed.mac is not None:
            self.macs_seen = True
            return self.macs.holds(sealed.hash, sealed.mac)
        return sealed.signature is not None or not (self.macs_required or self.macs_seen)

    def finish(self) -> Verdict:
        """The verdict once every stored entry was fed: a signed checkpoint beyond the last
        entry means entries at the end were removed."""
        if not self.broken:
            beyond = [seq for seq in self.checkpoints if seq > self.head.seq]
            if beyond:
                self._bad(
                    self.head.seq + 1,
                    f"the chain ends at {self.head.seq}; a signed checkpoint covers {max(beyond)}",
                )
        return Verdict(
            ok=not self.broken,
            checked=self.checked,
            first_bad_seq=self.first_bad_seq,
            head=self.head,
            problem=self.problem,
        )

    def _bad(self, seq: int, problem: str) -> bool:
        self.first_bad_seq, self.problem = seq, problem
        return False


def verify_chain(
    entries: Iterable[Sealed],
    anchor: Anchor = GENESIS,
    *,
    checkpoints: Mapping[int, str] | None = None,
    signature_ok: Callable[[Sealed], bool] | None = None,
    macs: EntryMacs | None = None,
    macs_required: bool = False,
) -> Verdict:
    """Check stored entries (in seq order) from `anchor` on; see ChainVerifier."""
    verifier = ChainVerifier(anchor, checkpoints or {}, signature_ok, macs, macs_required)
    for sealed in entries:
        if not verifier.feed(sealed):
            break
    return verifier.finish()


# --- checkpoints as published: what the chain is held to -----------------------------------


@dataclass(frozen=True)
class Checkpoint:
    """A checkpoint as routing published it on `tongban.audit.checkpoints`, its signature
    checked: "entry `seq` has hash `hash`", signed at `at` by key `signer`."""

    seq: int
    hash: str
    at: datetime
    signer: str


@dataclass
class PublishedCheckpoints:
    """Every checkpoint ever published (read from the retained topic, or from what a watcher
    stored of it), by seq. The chain is held to these, never to what routing's own database
    says it signed: routing can rewrite its tables, not a topic it may only append to.

    Two checkpoints of the same seq with different hashes are a `conflict`: routing signed two
    chains, so the ledger was rewritten after the first of them."""

    by_seq: dict[int, Checkpoint] = field(default_factory=dict)
    conflicts: list[tuple[Checkpoint, Checkpoint]] = field(default_factory=list)

    def add(self, checkpoint: Checkpoint) -> None:
        known = self.by_seq.get(checkpoint.seq)
        if known is None:
            self.by_seq[checkpoint.seq] = checkpoint
        elif known.hash != checkpoint.hash:
            self.conflicts.append((known, checkpoint))

    def __len__(self) -> int:
        return len(self.by_seq)

    @property
    def latest(self) -> Checkpoint | None:
        return self.by_seq[max(self.by_seq)] if self.by_seq else None

    def hashes(self, *, after: int = 0, upto: int | None = None) -> dict[int, str]:
        """seq → hash of the checkpoints after `after` (and up to `upto`)."""
        return {
            seq: checkpoint.hash
            for seq, checkpoint in self.by_seq.items()
            if seq > after and (upto is None or seq <= upto)
        }

    def snapshot(self) -> PublishedCheckpoints:
        """A copy to verify against while the follower keeps adding to this one."""
        return PublishedCheckpoints(dict(self.by_seq), list(self.conflicts))


@dataclass(frozen=True)
class Finding:
    """Why the chain fails against what was published: the first bad seq and what is wrong."""

    first_bad_seq: int
    problem: str


def rewritten(published: PublishedCheckpoints) -> Finding | None:
    """Two published checkpoints that disagree on one entry: the lowest such seq."""
    if not published.conflicts:
        return None
    first, second = min(published.conflicts, key=lambda pair: pair[0].seq)
    return Finding(
        first.seq,
        f"routing published two different checkpoints of entry {first.seq} (at "
        f"{timestamp(first.at)} and {timestamp(second.at)}): the ledger was rewritten after it "
        "was checkpointed",
    )


def cut_short(stored_head: int, published: PublishedCheckpoints) -> Finding | None:
    """The chain as stored ends (or is empty) before the latest published checkpoint: the
    entries in between were removed, whatever routing's own tables now say."""
    latest = published.latest
    if latest is None or stored_head >= latest.seq:
        return None
    missing = (
        f"entry {latest.seq}"
        if stored_head + 1 == latest.seq
        else (f"entries {stored_head + 1}–{latest.seq}")
    )
    ends = "the ledger is empty" if stored_head == 0 else f"the chain ends at {stored_head}"
    return Finding(
        stored_head + 1,
        f"{missing} missing: {ends}, but routing published a checkpoint of entry "
        f"{latest.seq} at {timestamp(latest.at)}",
    )


def disagreement(stored: Mapping[int, str], checkpoints: Iterable[Checkpoint]) -> Finding | None:
    """The first of `checkpoints` whose entry is missing from `stored` (seq → hash of the stored
    entries at those seqs) or has another hash there."""
    for checkpoint in sorted(checkpoints, key=lambda c: c.seq):
        seq, at = checkpoint.seq, timestamp(checkpoint.at)
        if seq not in stored:
            return Finding(seq, f"entry {seq} is missing; a checkpoint published at {at} covers it")
        if stored[seq] != checkpoint.hash:
            return Finding(seq, f"entry {seq} differs from the checkpoint published at {at}")
    return None


def removed_since_verified(position: int, missing: int, first_missing: int) -> Finding:
    """Entries 1 … `position` were all there when verified; `missing` of them (the first
    `first_missing`) are gone now."""
    return Finding(
        first_missing,
        f"{missing} of entries 1–{position}, verified before, missing (the first: {first_missing})",
    )
