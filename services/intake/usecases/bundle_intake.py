"""Handing in a bundle application at a window (一件事一次办), once per Idempotency-Key: one
combined one-time notice listing every problem of every member, or one receipt (the bundle's
number with its children's numbers).

The children are ordinary applications, each accepted as usecases/acceptance.py accepts one
(its own number, event, statutory clock and competent locality), carrying the bundle's number. A
child that waits for a sibling's certificate is held: its number is reserved in the receipt and
it is written as an application only when the process manager releases it. The bundle, its
children, their applications and events and the idempotency record are one transaction."""

from __future__ import annotations

import hashlib
import json
from datetime import date
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.intake import domain
from services.intake.bundle_db import CHILD, BundleChildRow, BundleRow, ChildStatus
from services.intake.bundle_schemas import BundleAcceptedOut, BundleApplicationIn, BundleChildOut
from services.intake.db import ISSUE_NOTICE, ApplicationNumbers, IdempotencyKeyRow, bound
from services.intake.domain.bundles import OPEN
from services.intake.usecases.acceptance import acceptance_of
from services.intake.usecases.bundle_judging import BundleVerdict, SubmitBundle, judge_bundle
from services.intake.usecases.catalog import Catalog
from services.intake.usecases.judging import Answer, SubmitApplication
from services.intake.usecases.notices import one_time_notice
from services.intake.usecases.scans import ScanRegistry, with_scan
from services.intake.usecases.submission import (
    _replay,
    cited_certificates,
    referenced_scans,
    registered_certificates,
)
from shared import clock
from shared.crypto.personal import place
from shared.db import Database
from shared.errors import DomainError, Forbidden
from shared.i18n import _
from shared.jurisdiction import RuleBook
from shared.messaging.outbox import Outbox
from shared.workdays import add_working_days


def bundle_request_hash(body: BundleApplicationIn) -> str:
    canonical = json.dumps(body.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def bundle_number(receiving_locality: str, day: date, sequence: int) -> str:
    """YJS + receiving locality + date + sequence (the applications' sequence: unique)."""
    return f"YJS{receiving_locality}{day:%Y%m%d}{sequence:06d}"


def bundle_place(column: str, bundle_no: str) -> str:
    """Where a personal-data column of a bundle application is bound (its AAD)."""
    return place(f"intake.bundle_applications.{column}", bundle_no)


async def submit_bundle(
    db: Database,
    command: SubmitBundle,
    *,
    outbox: Outbox,
    catalog: Catalog,
    rules: RuleBook,
    numbers: ApplicationNumbers,
    scans: ScanRegistry,
    digest_key: bytes,
) -> Answer:
    window_id = command.clerk.window_id
    if window_id is None:
        raise Forbidden("window_required", _("Only a clerk at a window can hand in applications."))
    body = command.body
    fingerprint = bundle_request_hash(body)
    members = [body.member_application(member) for member in body.members]
    wanted = {sha for one in members for sha in referenced_scans(one)}
    known = await scans.lookup(wanted, window_id)
    cited = [number for one in members for number in cited_certificates(one)]
    registry = await registered_certificates(db, cited, rules)
    try:
        verdict = judge_bundle(command, catalog.current, rules, digest_key, known, registry)
    except DomainError:
        async with db.transaction() as session:
            replay = await _replay(session, window_id, command.idempotency_key, fingerprint)
        if replay is None:
            raise
        return replay
    remembered = {
        "window_id": window_id,
        "key": command.idempotency_key,
        "request_hash": fingerprint,
    }
    try:
        if verdict.problems:
            notice = one_time_notice(
                command.clerk,
                verdict.bundle.bundle_id,
                _(
                    "The bundle application {bundle} is incomplete: every problem of every "
                    "member is listed.",
                    bundle=verdict.bundle.name,
                ),
                verdict.problems,
            )
            answer = Answer(notice.status_code, notice.body)
            values = {
                **bound("notice_", notice.row),
                **bound("key_", _answered(remembered, answer)),
            }
            await db.execute_atomically(ISSUE_NOTICE, values)
            return answer
        async with db.transaction() as session:
            answer = await _accept(session, command, verdict, outbox, numbers)
            session.add(IdempotencyKeyRow(**_answered(remembered, answer)))
    except IntegrityError:
        async with db.transaction() as session:
            replay = await _replay(session, window_id, command.idempotency_key, fingerprint)
        if replay is None:
            raise
        return replay
    outbox.written()
    return answer


def _answered(remembered: dict[str, Any], answer: Answer) -> dict[str, Any]:
    return {**remembered, "status_code": answer.status_code, "response": answer.body}


async def _accept(
    session: AsyncSession,
    command: SubmitBundle,
    verdict: BundleVerdict,
    outbox: Outbox,
    numbers: ApplicationNumbers,
) -> Answer:
    clerk, body, bundle = command.clerk, command.body, verdict.bundle
    assert clerk.window_id is not None
    now = clock.now()
    today = now.date()
    bundle_no = bundle_number(clerk.locality, today, await numbers.take())
    promised: dict[str, date] = {}
    children: list[BundleChildOut] = []
    rows: list[BundleChildRow] = []
    statements: list[dict[str, Any]] = []
    for judged in verdict.members:  # prerequisites first
        item, resolution = judged.verdict.item, judged.verdict.resolution
        code = item.item_code
        held = bool(judged.waits_for)
        sequence = await numbers.take()
        if held:
            application_no = domain.application_number(clerk.locality, today, sequence)
            # Estimated: its own clock starts when it is released by the latest prerequisite.
            start = max(promised[needs] for needs in judged.waits_for)
            promised[code] = add_working_days(start, item.promised_days)
        else:
            one = SubmitApplication(
                body.member_application(judged.member),
                clerk,
                command.idempotency_key,
                channel=command.channel,
            )
            answer, values = acceptance_of(
                one, judged.verdict, outbox, sequence, bundle_no=bundle_no
            )
            statements.append(values)
            application_no = answer.body["application_no"]
            promised[code] = date.fromisoformat(answer.body["promised_date"])
        member = bundle.member(code)
        assert member is not None
        materials = [
            with_scan(m.model_dump(mode="json", exclude={"certificate_no"}), judged.verdict.scans)
            for m in judged.member.materials
            if m.sha256 is not None
        ]
        status = ChildStatus.HELD if held else ChildStatus.ACCEPTED
        rows.append(
            BundleChildRow(
                application_no=application_no,
                bundle_no=bundle_no,
                item_code=code,
                required=member.required,
                status=status,
                outcome=None,
                waits_for=dict(judged.waits_for),
                issued=[],
                materials=materials if held else [],
                commitments=list(judged.member.commitments) if held else [],
                deferred=list(judged.verdict.deferred),
                competent_locality=resolution.competent_locality,
                department=resolution.department,
                promised_date=promised[code],
                revoked=[],
            )
        )
        children.append(
            BundleChildOut(
                application_no=application_no,
                item_code=code,
                required=member.required,
                status=status,
                waits_for=sorted(judged.waits_for),
                competent_locality=resolution.competent_locality,
                department=resolution.department,
                promised_date=promised[code],
            )
        )
    personal = outbox.personal_data()
    agent = body.agent.model_dump(mode="json") if body.agent else None
    session.add(
        BundleRow(
            bundle_no=bundle_no,
            bundle_id=bundle.bundle_id,
            catalog_version=verdict.version.version,
            applicant=personal.encrypt_json(
                body.applicant.model_dump(mode="json"), where=bundle_place("applicant", bundle_no)
            ),
            delivery=personal.encrypt_json(
                body.delivery.model_dump(mode="json"), where=bundle_place("delivery", bundle_no)
            ),
            agent=personal.encrypt_optional(agent, where=bundle_place("agent", bundle_no)),
            shared_fields=personal.encrypt_json(
                body.shared_fields, where=bundle_place("shared_fields", bundle_no)
            ),
            property_locality=body.property_locality,
            receiving_locality=clerk.locality,
            window_id=clerk.window_id,
            accepted_at=now,
            accepted_by=clerk.sub,
            promised_date=max(promised.values()),
            status=OPEN,
        )
    )
    await session.flush()
    session.add_all(rows)
    for values in statements:
        await session.execute(CHILD, values)
    receipt = BundleAcceptedOut(
        bundle_no=bundle_no,
        bundle_id=bundle.bundle_id,
        name=bundle.name,
        lead_department=bundle.lead_department,
        catalog_version=verdict.version.version,
        receiving_locality=clerk.locality,
        window_id=clerk.window_id,
        promised_date=max(promised.values()),
        children=children,
    )
    return Answer(201, receipt.model_dump(mode="json"))
