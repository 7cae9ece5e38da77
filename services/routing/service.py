"""Routing's use cases, shared by its HTTP API and its consumers.

Each takes the open transaction (one unit of work) and the service's outbox, and raises domain
errors (shared.errors), never HTTP ones. Every change to a rule or an agreement is published in
the same transaction to the compacted `tongban.routing.rules`, which is how intake's replica
learns of it.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, or_, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.routing import domain, ledger
from services.routing.db import (
    AgreementRow,
    JurisdictionRuleRow,
    LedgerCheckpointRow,
    LedgerRow,
    LedgerVerificationRow,
    RoutedApplicationRow,
)
from shared import clock
from shared.auth import Principal
from shared.crypto.keyring import KeyRing, Signer, key_name
from shared.crypto.personal import DecryptionFailed, PersonalData, place
from shared.db import insert_if_absent
from shared.errors import Forbidden, Invalid, NotFound
from shared.jurisdiction import (
    Agreement,
    JurisdictionError,
    JurisdictionRule,
    Resolution,
    RuleBook,
)
from shared.messaging import events, topics
from shared.messaging.envelope import Envelope
from shared.messaging.outbox import Outbox
from shared.pagination import MAX_PAGE, page
from shared.reference.catalog import CATALOG, CATALOG_VERSION
from shared.reference.localities import PROVINCE, city_of, is_known_locality, is_within
from shared.vocabulary import CompetentLevel, Jurisdiction, Right

log = logging.getLogger(__name__)


def to_rule(row: JurisdictionRuleRow) -> JurisdictionRule:
    return JurisdictionRule(
        item_code=row.item_code,
        jurisdiction=Jurisdiction(row.jurisdiction),
        competent_level=CompetentLevel(row.competent_level),
        department=row.department,
    )


def to_agreement(row: AgreementRow) -> Agreement:
    return Agreement(
        id=row.id,
        grantor_locality=row.grantor_locality,
        grantee_locality=row.grantee_locality,
        item_codes=tuple(row.item_codes),
        rights=frozenset(Right(right) for right in row.rights),
        valid_until=row.valid_until,
        revoked_at=row.revoked_at,
    )


def agreement_state(row: AgreementRow) -> events.TrustAgreementState:
    return events.TrustAgreementState(
        agreement_id=row.id,
        grantor_locality=row.grantor_locality,
        grantee_locality=row.grantee_locality,
        item_codes=list(row.item_codes),
        rights=[Right(right) for right in row.rights],
        valid_until=row.valid_until,
        revoked_at=row.revoked_at,
    )


def rule_state(rule: JurisdictionRule) -> events.JurisdictionRuleState:
    return events.JurisdictionRuleState(
        item_code=rule.item_code,
        jurisdiction=rule.jurisdiction,
        competent_level=rule.competent_level,
        department=rule.department,
    )


async def rule_book(
    session: AsyncSession, item_code: str, receiving_locality: str | None
) -> RuleBook:
    """One item's rule, and the agreements that could grant anything to windows of the
    receiving locality (naming it, its city, its province or `*`), revoked ones included: a
    right is judged as it stood at a given moment. No receiving locality, no agreements."""
    rule_query = select(JurisdictionRuleRow).where(JurisdictionRuleRow.item_code == item_code)
    rules = [to_rule(row) for row in await session.scalars(rule_query)]
    agreements: list[Agreement] = []
    if receiving_locality:
        grantees = {receiving_locality, city_of(receiving_locality), PROVINCE, "*"}
        rows = await session.scalars(
            select(AgreementRow).where(AgreementRow.grantee_locality.in_(grantees))
        )
        agreements = [to_agreement(row) for row in rows]
    return RuleBook.of(rules, agreements)


_RULE_COLUMNS = ("jurisdiction", "competent_level", "department", "catalog_version")


async def publish_state(session: AsyncSession, outbox: Outbox) -> None:
    """At start: the built-in catalog's rules are put in place, and the whole state (every rule
    and every agreement) is published again. Compaction keeps one record per key, so this
    costs nothing and heals a broker that lost the topic.

    The built-in catalog inserts the rules that are missing and refreshes only those that are
    still its own: without a version (written before versions were recorded) or of the
    built-in version. A rule that came from another version the province published
    (`CatalogPublished`) is left as it is: overwriting it here, as every start once did, would
    revert that publication whenever routing restarts."""
    values = [
        {
            "item_code": item.item_code,
            "jurisdiction": item.jurisdiction,
            "competent_level": item.competent_level,
            "department": item.department,
            "catalog_version": CATALOG_VERSION,
        }
        for item in CATALOG
    ]
    statement = insert(JurisdictionRuleRow).values(values)
    statement = statement.on_conflict_do_update(
        index_elements=[JurisdictionRuleRow.item_code],
        set_={name: statement.excluded[name] for name in _RULE_COLUMNS},
        where=or_(
            JurisdictionRuleRow.catalog_version.is_(None),
            JurisdictionRuleRow.catalog_version == CATALOG_VERSION,
        ),
    )
    await session.execute(statement)
    for row in await session.scalars(select(JurisdictionRuleRow)):
        await outbox.add(session, rule_state(to_rule(row)), topic=topics.ROUTING_RULES)
    for agreement in await session.scalars(select(AgreementRow)):
        await outbox.add(session, agreement_state(agreement), topic=topics.ROUTING_RULES)


async def take_catalog(
    session: AsyncSession, outbox: Outbox, published: events.CatalogPublished
) -> None:
    """The province published a catalog version: its items' rules become routing's, and are
    published on `tongban.routing.rules` so intake's replica learns them (a new item can then be
    accepted). Events of two versions may arrive in either order (each version is its own key):
    a rule set by a version published later stays. The same event twice writes and publishes
    the same states again."""
    by_code = {rule.item_code: rule for rule in published.rules}
    statement = insert(JurisdictionRuleRow).values(
        [
            {
                "item_code": rule.item_code,
                "jurisdiction": rule.jurisdiction,
                "competent_level": rule.competent_level,
                "department": rule.department,
                "catalog_version": published.version,
                "catalog_published_at": published.published_at,
            }
            for rule in by_code.values()
        ]
    )
    newest = JurisdictionRuleRow.catalog_published_at
    upsert = statement.on_conflict_do_update(
        index_elements=[JurisdictionRuleRow.item_code],
        set_={name: statement.excluded[name] for name in (*_RULE_COLUMNS, "catalog_published_at")},
        where=or_(newest.is_(None), newest <= statement.excluded.catalog_published_at),
    ).returning(JurisdictionRuleRow)
    # populate_existing: rows already in the session take the values just written.
    taken = await session.scalars(upsert, execution_options={"populate_existing": True})
    for row in taken.all():
        await outbox.add(session, rule_state(to_rule(row)), topic=topics.ROUTING_RULES)


@dataclass(frozen=True)
class Resolve:
    """Query: who is competent, and (optionally) what a receiving locality's windows may do."""

    item_code: str
    applicant_locality: str
    property_locality: str | None
    receiving_locality: str | None
    asker: Principal


async def resolve(session: AsyncSession, query: Resolve) -> Resolution:
    asker = query.asker
    if (
        asker.role == "window_clerk"
        and query.receiving_locality
        and query.receiving_locality != asker.locality
    ):
        raise Forbidden("not_your_locality", "A window asks only about its own rights.")
    book = await rule_book(session, query.item_code, query.receiving_locality)
    try:
        resolution = book.resolve(
            item_code=query.item_code,
            applicant_locality=query.applicant_locality,
            property_locality=query.property_locality,
            receiving_locality=query.receiving_locality or "",
            at=clock.now(),
        )
    except JurisdictionError as problem:
        raise Invalid.of_field(problem.code, str(problem), problem.field) from problem
    if resolution is None:
        raise Invalid.of_field("unknown_item", f"No catalog item {query.item_code}.", "item_code")
    return resolution


@dataclass(frozen=True)
class GrantAgreement:
    """Command: the grantor's administration lets another locality's windows act for it."""

    grantor_locality: str
    grantee_locality: str
    item_codes: list[str]
    rights: list[Right]
    valid_until: date | None
    admin: Principal


def _may_administer(admin: Principal, grantor: str) -> bool:
    return is_within(grantor, admin.locality)


async def grant_agreement(
    session: AsyncSession, outbox: Outbox, command: GrantAgreement
) -> AgreementRow:
    if not _may_administer(command.admin, command.grantor_locality):
        raise Forbidden("not_grantor", "Only the grantor locality's administration may grant.")
    for where, code in (
        ("grantor_locality", command.grantor_locality),
        ("grantee_locality", command.grantee_locality),
    ):
        if code != "*" and not is_known_locality(code):
            raise Invalid.of_field("unknown_locality", f"Unknown locality code {code}.", where)
    row = AgreementRow(
        id=str(uuid.uuid4()),
        grantor_locality=command.grantor_locality,
        grantee_locality=command.grantee_locality,
        item_codes=command.item_codes,
        rights=[right for right in Right if right in command.rights],
        valid_until=command.valid_until,
        created_by=command.admin.sub,
        created_at=clock.now(),
    )
    session.add(row)
    await session.flush()
    await outbox.add(session, agreement_state(row), topic=topics.ROUTING_RULES)
    return row


async def revoke_agreement(
    session: AsyncSession, outbox: Outbox, agreement_id: str, admin: Principal
) -> AgreementRow:
    row = await session.get(AgreementRow, agreement_id, with_for_update=True)
    if row is None:
        raise NotFound("agreement_not_found", "No such agreement.")
    if not _may_administer(admin, row.grantor_locality):
        raise Forbidden("not_grantor", "Only the grantor locality's administration may revoke.")
    if row.revoked_at is None:
        row.revoked_at = clock.now()
        await outbox.add(session, agreement_state(row), topic=topics.ROUTING_RULES)
    return row


async def list_agreements(
    session: AsyncSession, *, limit: int = MAX_PAGE, cursor: str | None = None
) -> tuple[list[AgreementRow], str | None]:
    """Every agreement, in the order they were granted, a page at a time."""
    keys = [AgreementRow.created_at, AgreementRow.id]
    return await page(session, select(AgreementRow), keys, limit=limit, cursor=cursor)


async def route_application(
    session: AsyncSession, outbox: Outbox, accepted: events.ApplicationAccepted
) -> None:
    """Hand an accepted application to its competent locality, or record why it cannot go.

    The same application announced twice (under two event ids, which the inbox cannot catch)
    gets one verdict and one set of events. The personal data comes sealed for routing (the
    event's own fields are masked on the province-wide topic): it is opened here, stored
    encrypted, and handed in clear to the competent locality's own topic only.
    """
    personal = outbox.personal_data()
    accepted = open_accepted(personal, accepted)
    book = await rule_book(session, accepted.item_code, accepted.receiving_locality)
    verdict = domain.place(
        book,
        item_code=accepted.item_code,
        applicant_locality=accepted.applicant.locality,
        property_locality=accepted.property_locality,
        receiving_locality=accepted.receiving_locality,
        accepted_at=accepted.accepted_at,
    )
    now = clock.now()
    if isinstance(verdict, domain.NotPlaced):
        first_time = await insert_if_absent(
            session,
            RoutedApplicationRow,
            application_no=accepted.application_no,
            item_code=accepted.item_code,
            outcome="unroutable",
            reason=verdict.reason,
            note=verdict.message,
            routed_at=now,
        )
        if first_time:
            unroutable = events.Unroutable(
                application_no=accepted.application_no,
                reason=verdict.reason,
                message=verdict.message,
                receiving_locality=accepted.receiving_locality,
                decided_at=now,
            )
            await outbox.add(session, unroutable, topic=topics.ROUTING_EVENTS)
        return

    topic = topics.approval_requests(verdict.competent_locality)
    first_time = await insert_if_absent(
        session,
        RoutedApplicationRow,
        application_no=accepted.application_no,
        item_code=accepted.item_code,
        outcome="routed",
        competent_locality=verdict.competent_locality,
        department=verdict.department,
        topic=topic,
        routed_at=now,
        application=personal.seal_fields(
            accepted.model_dump(mode="json"), where=_stored_at(accepted.application_no)
        ),
    )
    if not first_time:
        return
    routed = events.ApplicationRouted.model_validate(
        {
            **accepted.model_dump(),
            "competent_locality": verdict.competent_locality,
            "department": verdict.department,
            "routed_at": now,
        }
    )
    await outbox.add(session, routed, topic=topic)
    notice = events.Routed(
        application_no=accepted.application_no,
        competent_locality=verdict.competent_locality,
        department=verdict.department,
        receiving_locality=accepted.receiving_locality,
        routed_at=now,
    )
    await outbox.add(session, notice, topic=topics.ROUTING_EVENTS)


def _stored_at(application_no: str) -> str:
    return place("routing.routed_applications.application", application_no)


def open_accepted(
    personal: PersonalData, accepted: events.ApplicationAccepted
) -> events.ApplicationAccepted:
    """The accepted application with its personal data in clear (opened from what intake sealed
    for routing); one without a seal is taken as it is (intake before the seal existed)."""
    if accepted.personal_data is None:
        return accepted
    try:
        clear = personal.unseal(
            accepted.personal_data.model_dump(), context=accepted.application_no
        )
    except DecryptionFailed as exc:
        raise Invalid(
            "personal_data_unreadable",
            f"The personal data of {accepted.application_no} does not open for routing.",
        ) from exc
    return events.ApplicationAccepted.model_validate(
        {**accepted.model_dump(), **clear, "personal_data": None}
    )


async def forward_supplement(
    session: AsyncSession, outbox: Outbox, supplement: events.ApplicationSupplemented
) -> None:
    """Pass materials handed in at a window on to the locality that holds the case now (which a
    transfer may have changed since the window looked)."""
    routed = await session.get(RoutedApplicationRow, supplement.application_no)
    if routed is None or routed.outcome != "routed" or routed.competent_locality is None:
        raise NotFound(
            "application_not_routed",
            f"{supplement.application_no} was never routed; no case takes its supplement.",
        )
    forwarded = events.SupplementRouted.model_validate(
        {
            **supplement.model_dump(),
            "competent_locality": routed.competent_locality,
            "routed_at": clock.now(),
        }
    )
    await outbox.add(
        session, forwarded, topic=topics.approval_requests(forwarded.competent_locality)
    )


async def transfer_application(
    session: AsyncSession, outbox: Outbox, transferred: events.CaseTransferred
) -> None:
    """移交: route the application again, to the locality the approver named, with the
    department of the item's rule; the timeline learns of it from `Transferred`."""
    routed = await session.get(
        RoutedApplicationRow, transferred.application_no, with_for_update=True
    )
    if routed is None or routed.application is None:
        raise NotFound(
            "application_not_routed",
            f"Routing holds no application {transferred.application_no} to transfer.",
        )
    if routed.competent_locality == transferred.to_locality:
        return  # already there: the same transfer announced twice
    if routed.competent_locality != transferred.from_locality:
        raise Forbidden(
            "not_competent",
            f"{transferred.from_locality} does not hold {transferred.application_no}.",
        )
    if not is_known_locality(transferred.to_locality):
        raise Invalid.of_field(
            "unknown_locality", f"Unknown locality {transferred.to_locality}.", "to_locality"
        )
    rule = await session.get(JurisdictionRuleRow, routed.item_code)
    department = rule.department if rule else (routed.department or "")
    now = clock.now()
    topic = topics.approval_requests(transferred.to_locality)
    stored = outbox.personal_data().open_fields(
        routed.application, where=_stored_at(transferred.application_no)
    )
    application = events.ApplicationRouted.model_validate(
        {
            **stored,
            "competent_locality": transferred.to_locality,
            "department": department,
            "routed_at": now,
        }
    )
    routed.competent_locality, routed.department, routed.topic = (
        transferred.to_locality,
        department,
        topic,
    )
    routed.transfers += 1
    routed.note = f"transferred from {transferred.from_locality}: {transferred.reason}"
    await outbox.add(session, application, topic=topic)
    notice = events.Transferred(
        application_no=transferred.application_no,
        from_locality=transferred.from_locality,
        competent_locality=transferred.to_locality,
        department=department,
        reason=transferred.reason,
        routed_at=now,
    )
    await outbox.add(session, notice, topic=topics.ROUTING_EVENTS)


# --- the audit ledger (services.routing.ledger) --------------------------------------------

# The key of the transaction-scoped advisory lock on the ledger's head: whoever appends (or
# signs a checkpoint) holds it until its transaction ends, so seqs are handed out one at a time
# and each entry chains to the one committed before it, however many routing consumers and
# processes run.
LEDGER_LOCK = 0x74_62_6C_65_64_67_65_72  # "tbledger"
# The key whose signatures the ledger carries (the key ring's `routing#<n>` keys).
LEDGER_SIGNER = "routing"


@dataclass(frozen=True)
class Read:
    """Where the ledger's consumer read an event: the Kafka record's place and its bytes."""

    topic: str
    partition: int
    offset: int
    value: bytes


async def _lock_ledger(session: AsyncSession) -> None:
    await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LEDGER_LOCK})


async def _ledger_head(session: AsyncSession) -> LedgerRow | None:
    return await session.scalar(select(LedgerRow).order_by(LedgerRow.seq.desc()).limit(1))


def to_sealed(row: LedgerRow) -> ledger.Sealed:
    entry = ledger.Entry(
        seq=row.seq,
        at=row.at,
        topic=row.topic,
        partition=row.kafka_partition,
        offset=row.kafka_offset,
        event_id=row.event_id,
        event_type=row.event_type,
        source=row.source,
        subject=row.subject,
        event_time=row.event_time,
        record_sm3=row.record_sm3,
    )
    return ledger.Sealed(entry, row.prev_hash, row.hash, row.signer, row.signature)


def _application_no(envelope: Envelope) -> str | None:
    number = envelope.data.get("application_no")
    return number if isinstance(number, str) and len(number) <= 32 else None


async def append_to_ledger(
    session: AsyncSession, envelope: Envelope, read: Read, signer: Signer
) -> LedgerRow | None:
    """Append one event to the chain (in the consumer's transaction, with its inbox row); None
    if the event is in the ledger already (the same event id read again, e.g. after the inbox
    row was pruned and the topic replayed)."""
    if envelope.time.tzinfo is None:
        raise Invalid.of_field("event_time_not_aware", "ce_time carries no offset.", "ce_time")
    await _lock_ledger(session)
    known = select(LedgerRow.seq).where(LedgerRow.event_id == envelope.id)
    if await session.scalar(known) is not None:
        return None
    head = await _ledger_head(session)
    entry = ledger.Entry(
        seq=(head.seq if head else 0) + 1,
        at=clock.now(),
        topic=read.topic,
        partition=read.partition,
        offset=read.offset,
        event_id=envelope.id,
        event_type=envelope.type,
        source=envelope.source,
        subject=envelope.subject,
        event_time=envelope.time,
        record_sm3=ledger.record_digest(read.value),
    )
    sealed = ledger.seal(
        entry,
        head.hash if head else ledger.GENESIS_HASH,
        lambda message: (signer.kid, signer.sign(message)),
    )
    row = LedgerRow(
        seq=entry.seq,
        at=entry.at,
        topic=entry.topic,
        kafka_partition=entry.partition,
        kafka_offset=entry.offset,
        event_id=entry.event_id,
        event_type=entry.event_type,
        source=entry.source,
        subject=entry.subject,
        event_time=entry.event_time,
        application_no=_application_no(envelope),
        record_sm3=entry.record_sm3,
        prev_hash=sealed.prev_hash,
        hash=sealed.hash,
        signer=sealed.signer,
        signature=sealed.signature,
    )
    session.add(row)
    await session.flush()
    return row


def _feed(verifier: ledger.ChainVerifier, entries: list[ledger.Sealed]) -> None:
    for sealed in entries:
        if not verifier.feed(sealed):
            return


async def _check_entries(
    session: AsyncSession,
    verifier: ledger.ChainVerifier,
    *,
    progress: Callable[[int], None] | None = None,
    batch: int = 1000,
) -> ledger.Verdict:
    """Feed `verifier` every stored entry after its anchor, in pages by stored seq."""
    after = verifier.anchor.seq
    while not verifier.broken:
        query = select(LedgerRow).where(LedgerRow.seq > after).order_by(LedgerRow.seq)
        entries = [to_sealed(row) for row in await session.scalars(query.limit(batch))]
        if not entries:
            break
        # Hashing and SM2 checks are CPU work: in a worker thread, so requests, consumers and
        # heartbeats go on meanwhile.
        await asyncio.to_thread(_feed, verifier, entries)
        after = entries[-1].seq
        if progress is not None:
            progress(len(entries))
    return verifier.finish()


async def checkpoint_ledger(
    session: AsyncSession, outbox: Outbox, signer: Signer
) -> LedgerCheckpointRow | None:
    """Sign the ledger's head and publish it on `tongban.audit.checkpoints`, if it moved since
    the last checkpoint. Routing first checks the entries since that checkpoint: it never signs
    a head that does not chain to what it signed before."""
    await _lock_ledger(session)
    head = await _ledger_head(session)
    last = await session.scalar(
        select(LedgerCheckpointRow).order_by(LedgerCheckpointRow.seq.desc()).limit(1)
    )
    if head is None or (last is not None and last.seq >= head.seq):
        return None
    verifier = ledger.ChainVerifier(ledger.Anchor(last.seq, last.hash) if last else ledger.GENESIS)
    verdict = await _check_entries(session, verifier)
    if not verdict.ok or verdict.head.seq < head.seq:
        log.error("audit ledger: no checkpoint signed: %s", verdict.problem or "entries missing")
        return None
    now = clock.now()
    signature = signer.sign(ledger.head_statement(head.seq, head.hash, now))
    row = LedgerCheckpointRow(
        seq=head.seq, hash=head.hash, at=now, signer=signer.kid, signature=signature
    )
    session.add(row)
    checkpoint = events.LedgerCheckpoint(
        seq=row.seq,
        hash=row.hash,
        at=now,
        signer=row.signer,
        signature=base64.b64encode(signature).decode("ascii"),
    )
    await outbox.add(session, checkpoint, topic=topics.AUDIT_CHECKPOINTS)
    return row


async def ledger_of_application(session: AsyncSession, application_no: str) -> list[LedgerRow]:
    query = select(LedgerRow).where(LedgerRow.application_no == application_no)
    return list(await session.scalars(query.order_by(LedgerRow.seq)))


def signed_by_routing(
    ring: KeyRing, statement: bytes, signer: str, signature: bytes, signed_at: datetime
) -> bool:
    """The signature verifies with a key of the trust list that speaks for routing and was
    neither revoked nor retired at `signed_at` (the time the head states)."""
    return key_name(signer) == LEDGER_SIGNER and ring.verify(
        signer, statement, signature, signed_at
    )


@dataclass(frozen=True)
class CheckpointCheck:
    """The latest checkpoint published: its signature (routing's, or it would not count), and
    whether the chain as stored has its head."""

    seq: int
    hash: str
    at: datetime
    signer: str
    signature_ok: bool
    head_matches: bool


@dataclass(frozen=True)
class LedgerVerification:
    ok: bool
    verdict: ledger.Verdict
    from_seq: int
    checkpoint: CheckpointCheck | None
    problem: str | None
    # How many published checkpoints the chain was held to.
    checkpoints_published: int = 0
    verified_at: datetime | None = None


async def verify_ledger(
    session: AsyncSession,
    ring: KeyRing,
    published: ledger.PublishedCheckpoints,
    *,
    from_seq: int | None = None,
    since: ledger.Anchor | None = None,
    progress: Callable[[int], None] | None = None,
    batch: int = 1000,
) -> LedgerVerification:
    """Hold the chain as stored to every checkpoint routing ever `published` (read from the
    retained topic, not from routing's tables), then recompute it from its first entry, from the
    published checkpoint at `from_seq`, or from a position verified before (`since`), checking
    each entry's signature and each published checkpoint on the way. The hashing and the SM2
    checks run in a worker thread, so a long verification never stalls the event loop.

    It fails when two published checkpoints disagree (the ledger was rewritten), when the chain
    ends before the latest checkpoint or is empty after checkpoints were published (entries cut
    or wiped), when entries before `since` were removed or the one at `since` or at the latest
    checkpoint before it changed, and at the first bad entry after the start. `progress(n)` is
    told of each batch of n entries checked."""
    published = published.snapshot()
    anchor = ledger.GENESIS
    if from_seq is not None:
        start = published.by_seq.get(from_seq)
        if start is None:
            raise NotFound(
                "checkpoint_not_found", f"No published checkpoint of the ledger at {from_seq}."
            )
        anchor = ledger.Anchor(start.seq, start.hash)
    elif since is not None:
        anchor = since
    stored_head = int(await session.scalar(select(func.max(LedgerRow.seq))) or 0)
    latest = published.latest
    looked_up = await _stored_hashes(
        session, {anchor.seq} | ({latest.seq} if latest else set()) | _below(published, anchor)
    )
    check = None
    if latest is not None:
        check = CheckpointCheck(
            seq=latest.seq,
            hash=latest.hash,
            at=latest.at,
            signer=latest.signer,
            signature_ok=True,
            head_matches=looked_up.get(latest.seq) == latest.hash,
        )

    def outcome(verdict: ledger.Verdict) -> LedgerVerification:
        return LedgerVerification(
            ok=verdict.ok,
            verdict=verdict,
            from_seq=anchor.seq,
            checkpoint=check,
            problem=verdict.problem,
            checkpoints_published=len(published),
        )

    finding = ledger.rewritten(published) or ledger.cut_short(stored_head, published)
    if finding is None:
        finding = await _held_before(session, anchor, published, looked_up, stored_head)
    if finding is not None:
        head = anchor if anchor.seq < finding.first_bad_seq else ledger.GENESIS
        return outcome(ledger.Verdict(False, 0, finding.first_bad_seq, head, finding.problem))

    def entry_signed(sealed: ledger.Sealed) -> bool:
        statement = ledger.head_statement(sealed.seq, sealed.hash, sealed.entry.at)
        return signed_by_routing(ring, statement, sealed.signer, sealed.signature, sealed.entry.at)

    verifier = ledger.ChainVerifier(anchor, published.hashes(after=anchor.seq), entry_signed)
    return outcome(await _check_entries(session, verifier, progress=progress, batch=batch))


def _below(published: ledger.PublishedCheckpoints, anchor: ledger.Anchor) -> set[int]:
    """The latest published checkpoint at or before the anchor, if any (as a set of its seq)."""
    before = published.hashes(upto=anchor.seq)
    return {max(before)} if before else set()


async def _stored_hashes(session: AsyncSession, seqs: set[int]) -> dict[int, str]:
    wanted = [seq for seq in seqs if seq > 0]
    if not wanted:
        return {}
    query = select(LedgerRow.seq, LedgerRow.hash).where(LedgerRow.seq.in_(wanted))
    return {seq: hash_ for seq, hash_ in (await session.execute(query)).tuples()}


async def _held_before(
    session: AsyncSession,
    anchor: ledger.Anchor,
    published: ledger.PublishedCheckpoints,
    stored: dict[int, str],
    stored_head: int,
) -> ledger.Finding | None:
    """What the start of a verification that does not begin at the genesis takes on trust is
    still there: every entry up to the anchor (counted), the anchor's hash, and the latest
    published checkpoint at or before it. A rewrite that re-hashed earlier entries changes both
    hashes; one that did not breaks the chain, which a full verification finds."""
    if anchor.seq == 0:
        return None
    if anchor.seq > stored_head:
        return ledger.Finding(
            stored_head + 1,
            f"entries {stored_head + 1}–{anchor.seq} missing: the chain ends at {stored_head}, "
            "but they were verified before",
        )
    count_query = select(func.count()).select_from(LedgerRow).where(LedgerRow.seq <= anchor.seq)
    count = int(await session.scalar(count_query) or 0)
    if count < anchor.seq:
        first_missing = await session.scalar(
            text(
                "SELECT s FROM generate_series(1, :upto) AS s "
                "WHERE NOT EXISTS (SELECT 1 FROM ledger WHERE seq = s) ORDER BY s LIMIT 1"
            ),
            {"upto": anchor.seq},
        )
        return ledger.removed_since_verified(anchor.seq, anchor.seq - count, int(first_missing))
    held = [published.by_seq[seq] for seq in _below(published, anchor)]
    finding = ledger.disagreement(stored, held)
    if finding is None and stored.get(anchor.seq) != anchor.hash:
        finding = ledger.Finding(anchor.seq, f"entry {anchor.seq} changed since it was verified")
    return finding


# The one row of `ledger_verification`.
VERIFICATION_ROW = 1


async def verify_incrementally(
    session: AsyncSession,
    ring: KeyRing,
    published: ledger.PublishedCheckpoints,
    *,
    full: bool = False,
) -> LedgerVerification:
    """Verify the entries appended since the last verification (all of them if `full`), store
    the position reached and the verdict, and return it. The state row is locked for the
    verification: processes that verify at once take turns instead of doing the work twice."""
    await session.execute(
        insert(LedgerVerificationRow)
        .values(id=VERIFICATION_ROW, position_seq=0, position_hash=ledger.GENESIS_HASH)
        .on_conflict_do_nothing()
    )
    state = await session.scalar(
        select(LedgerVerificationRow)
        .where(LedgerVerificationRow.id == VERIFICATION_ROW)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    assert state is not None
    since = None if full else ledger.Anchor(state.position_seq, state.position_hash)
    result = await verify_ledger(session, ring, published, since=since)
    if result.ok:
        state.position_seq, state.position_hash = result.verdict.head.seq, result.verdict.head.hash
    result = replace(result, verified_at=clock.now())
    state.verified_at = result.verified_at
    state.result = verification_summary(result)
    return result


async def last_verification(session: AsyncSession) -> dict[str, Any] | None:
    """The verdict of the last verification as it was answered, without verifying again."""
    state = await session.get(LedgerVerificationRow, VERIFICATION_ROW)
    return state.result if state is not None else None


def verification_summary(result: LedgerVerification) -> dict[str, Any]:
    """The verdict as `GET /v1/audit/verify` answers it (API.md)."""
    check = result.checkpoint
    return {
        "ok": result.ok,
        "checked": result.verdict.checked,
        "first_bad_seq": result.verdict.first_bad_seq,
        "from_seq": result.from_seq,
        "head_seq": result.verdict.head.seq,
        "head_hash": result.verdict.head.hash,
        "problem": result.problem,
        "checkpoint": None
        if check is None
        else {
            "seq": check.seq,
            "hash": check.hash,
            "at": ledger.timestamp(check.at),
            "signer": check.signer,
            "signature_ok": check.signature_ok,
            "head_matches": check.head_matches,
        },
        "checkpoints_published": result.checkpoints_published,
        "verified_at": ledger.timestamp(result.verified_at) if result.verified_at else None,
    }
