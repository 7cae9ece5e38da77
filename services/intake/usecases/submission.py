"""Handing in an application at a window (收件受理), once per Idempotency-Key.

Accepting decides from memory (the catalog, and the replica of routing's rules) and writes once:
the application, its first timeline entry, its event (outbox) and the idempotency record go in
ONE statement (data-modifying CTEs, atomic on its own: one round trip), and nothing is read
first but the scans not seen before and the certificates an application cites (免证办), whose
revocation may arrive at any time. A retry with the same Idempotency-Key finds out at that
write (the key's primary key) and gets the first answer instead."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.dml import Insert

from services.intake import domain
from services.intake.db import (
    ACCEPT,
    ISSUE_NOTICE,
    ApplicationNumbers,
    CertificateRow,
    IdempotencyKeyRow,
    bound,
)
from services.intake.schemas import ApplicationIn
from services.intake.usecases.acceptance import acceptance_of
from services.intake.usecases.catalog import Catalog
from services.intake.usecases.judging import Answer, Notify, SubmitApplication, judge
from services.intake.usecases.notices import one_time_notice
from services.intake.usecases.scans import ScanRegistry
from shared.competence import may_be_competent
from shared.db import Database
from shared.errors import Conflict, DomainError, Forbidden
from shared.i18n import _
from shared.jurisdiction import RuleBook
from shared.messaging.outbox import Outbox


def request_hash(body: ApplicationIn) -> str:
    document = body.model_dump(mode="json")
    # A material gives a scan or a certificate: the absent one is left out, so a body that cites
    # nothing hashes as it did before certificates could be cited (a retry across an upgrade
    # still finds its first answer).
    document["materials"] = [
        {name: value for name, value in material.items() if value is not None}
        for material in document["materials"]
    ]
    canonical = json.dumps(document, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


async def submit_application(
    db: Database,
    command: SubmitApplication,
    *,
    outbox: Outbox,
    catalog: Catalog,
    rules: RuleBook,
    numbers: ApplicationNumbers,
    scans: ScanRegistry,
    digest_key: bytes,
) -> Answer:
    """Takes the Database, not a session: the answer is written in ONE statement, atomic on its
    own (no transaction around it), and a retry that loses on the key reads the first answer in
    a transaction of its own."""
    window_id = command.clerk.window_id
    if window_id is None:
        raise Forbidden("window_required", _("Only a clerk at a window can hand in applications."))
    fingerprint = request_hash(command.body)
    known = await scans.lookup(referenced_scans(command.body), window_id)
    registry = await registered_certificates(db, cited_certificates(command.body), rules)
    try:
        verdict = judge(command, catalog, rules, digest_key, known, registry)
    except DomainError:
        # A retry of a request that was answered before gets that first answer, even if the
        # window's rights changed since.
        async with db.transaction() as session:
            replay = await _replay(session, window_id, command.idempotency_key, fingerprint)
        if replay is None:
            raise
        return replay
    if isinstance(verdict, Notify):
        notice = one_time_notice(
            command.clerk,
            verdict.item.item_code,
            _(
                "The application for {item} is incomplete: every problem is listed.",
                item=verdict.item.name,
            ),
            verdict.problems,
        )
        statement, answer = ISSUE_NOTICE, Answer(notice.status_code, notice.body)
        values = bound("notice_", notice.row)
    else:
        sequence = await numbers.take()
        statement, (answer, values) = ACCEPT, acceptance_of(command, verdict, outbox, sequence)
    answer = await _commit_once(db, command, fingerprint, answer, statement, values)
    if answer.status_code == 201:
        outbox.written()
    return answer


def referenced_scans(body: ApplicationIn) -> list[str]:
    scans = [m.sha256 for m in body.materials if m.sha256 is not None]
    if body.agent is not None:
        scans.append(body.agent.authorization_sha256)
    return scans


def cited_certificates(body: ApplicationIn) -> list[str]:
    return [m.certificate_no for m in body.materials if m.certificate_no is not None]


async def registered_certificates(
    db: Database, numbers: Sequence[str], rules: RuleBook
) -> dict[str, domain.RegisteredCertificate]:
    """The cited certificates intake's replica of the registry knows, each with whether its
    issuer may be competent for its item (by the replica of routing's rules). Read at every
    submission that cites any (never cached: a revocation counts from the moment it arrives)."""
    if not numbers:
        return {}
    async with db.engine.connect() as connection:
        rows = await connection.execute(
            select(CertificateRow).where(CertificateRow.certificate_no.in_(set(numbers)))
        )
        return {
            row.certificate_no: domain.RegisteredCertificate(
                certificate_no=row.certificate_no,
                issuer_locality=row.issuer_locality,
                item_code=row.item_code,
                holder_id_digest=row.holder_id_digest,
                valid_until=row.valid_until,
                revoked=row.revoked_at is not None,
                issuer_may_be_competent=_may_issue(rules, row.item_code, row.issuer_locality),
            )
            for row in rows
        }


def _may_issue(rules: RuleBook, item_code: str, issuer: str) -> bool:
    rule = rules.rules.get(item_code)
    return rule is not None and may_be_competent(rule, issuer)


async def _replay(
    session: AsyncSession, window_id: str, key: str, fingerprint: str
) -> Answer | None:
    stored = await session.get(IdempotencyKeyRow, (window_id, key))
    if stored is None:
        return None
    if stored.request_hash != fingerprint:
        raise Conflict(
            "idempotency_key_reused",
            _("This Idempotency-Key was used for a different application."),
        )
    return Answer(stored.status_code, stored.response)


async def _commit_once(
    db: Database,
    command: SubmitApplication,
    fingerprint: str,
    answer: Answer,
    statement: Insert,
    values: dict[str, Any],
) -> Answer:
    """Write the answer's rows and the idempotency record as one statement; a retry with the
    same key (concurrent or later) loses on the key's primary key and gets the first answer."""
    window_id = command.clerk.window_id
    assert window_id is not None
    remembered = {
        "window_id": window_id,
        "key": command.idempotency_key,
        "request_hash": fingerprint,
        "status_code": answer.status_code,
        "response": answer.body,
    }
    try:
        await db.execute_atomically(statement, {**values, **bound("key_", remembered)})
        return answer
    except IntegrityError:
        async with db.transaction() as session:
            replay = await _replay(session, window_id, command.idempotency_key, fingerprint)
        if replay is None:
            raise
        return replay
