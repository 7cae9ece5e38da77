"""The bundle process manager (一件事), first part: a held child is released when the
certificates of every member it waits for were issued, with them cited (免证办, no upload).

A bounded module of intake, not a service of its own (contracts/bundles.md says why): a bundle's
children are intake's applications, releasing one is accepting it (number, personal data sealed
for routing, the outbox), and intake's consumer already reads every CertificateIssued to keep its
replica of the registry. Its state is the bundle tables (bundle_db.py), changed in the consumer's
transaction: the inbox drops an event read twice, a child is released by a conditional update
(held → released) and its application's primary key is the number reserved for it, so a
redelivery or a restart neither releases a child twice nor loses one."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.intake.bundle_db import CHILD, BundleChildRow, BundleRow, ChildStatus
from services.intake.db import CatalogVersionRow
from services.intake.domain.bundles import (
    APPROVED,
    COMPLETED,
    FAILED,
    OPEN,
    REJECTED,
    Child,
    bundle_status,
    estimated_dates,
)
from services.intake.online import OnlineApplicationRow
from services.intake.schemas import ApplicationIn
from services.intake.usecases import bundle_compensation
from services.intake.usecases.acceptance import acceptance_of
from services.intake.usecases.bundle_intake import bundle_place
from services.intake.usecases.judging import Accept, SubmitApplication
from shared import clock
from shared.auth import Principal
from shared.i18n import N_
from shared.jurisdiction import Resolution
from shared.messaging import events
from shared.messaging.outbox import Outbox, set_after_commit
from shared.reference.catalog import CatalogItem
from shared.workdays import add_working_days


async def on_certificate_issued(
    session: AsyncSession, issued: events.CertificateIssued, outbox: Outbox
) -> list[str]:
    """Note the certificate on its child, if it is one, and release the siblings that waited
    for it and now have every certificate they need. Returns the released numbers."""
    locked = await _locked(session, issued.application_no)
    if locked is None:
        return []
    child, bundle = locked
    entry = {
        "certificate_no": issued.certificate_no,
        "issuer_locality": issued.locality,
        "item_code": issued.item_code,
    }
    if entry not in child.issued:
        child.issued = [*child.issued, entry]
    siblings = (
        await session.scalars(
            select(BundleChildRow)
            .where(BundleChildRow.bundle_no == child.bundle_no)
            .order_by(BundleChildRow.application_no)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).all()
    certificates = {sibling.item_code: sibling.issued[0] for sibling in siblings if sibling.issued}
    released = []
    for sibling in siblings:
        if sibling.status != ChildStatus.HELD or child.item_code not in sibling.waits_for:
            continue
        if not all(needs in certificates for needs in sibling.waits_for):
            continue  # another prerequisite's certificate is still to come
        cited = [
            events.CitedCertificate(material_code=material, **certificates[needs])
            for needs, material in sorted(sibling.waits_for.items())
        ]
        if await _release(session, sibling, cited, outbox):
            released.append(sibling.application_no)
    if released:
        await _replan(session, bundle)
    return released


async def on_certificate_revoked(session: AsyncSession, revoked: events.CertificateRevoked) -> None:
    """A revoked certificate is no longer cited for a sibling still held (one released with it
    already is the approver's to judge), and the child notes it (a failed bundle's
    compensation, bundle_compensation.py, or the issuer's own revocation)."""
    locked = await _locked(session, revoked.application_no)
    if locked is not None:
        child = locked[0]
        child.issued = [c for c in child.issued if c["certificate_no"] != revoked.certificate_no]
        if revoked.certificate_no not in child.revoked:
            child.revoked = [*child.revoked, revoked.certificate_no]


async def on_resumed(session: AsyncSession, resumed: events.CaseResumed) -> date | None:
    """补正 over: the child's clock was paused for `paused_working_days`, so its promised date
    moves by as many, the estimates of the children held behind it with it, and the bundle's
    promised date is the latest again. The other children's clocks never stopped. Returns the
    bundle's promised date; None if the application is no bundle's child."""
    locked = await _locked(session, resumed.application_no)
    if locked is None:
        return None
    child, bundle = locked
    child.promised_date = add_working_days(child.promised_date, resumed.paused_working_days)
    return await _replan(session, bundle)


async def _replan(session: AsyncSession, bundle: BundleRow) -> date:
    """Each held child's promised date estimated again from its prerequisites', and the
    bundle's the latest child's."""
    siblings = (
        await session.scalars(
            select(BundleChildRow).where(BundleChildRow.bundle_no == bundle.bundle_no)
        )
    ).all()
    held = {}
    for sibling in siblings:
        if sibling.status == ChildStatus.HELD:
            item = await _item(session, bundle.catalog_version, sibling.item_code)
            held[sibling.item_code] = (sibling.waits_for, _later_by(item.promised_days))
    known = {s.item_code: s.promised_date for s in siblings if s.status != ChildStatus.HELD}
    dates = estimated_dates(known, held)
    for sibling in siblings:
        sibling.promised_date = dates[sibling.item_code]
    bundle.promised_date = max(dates.values())
    return bundle.promised_date


async def _locked(
    session: AsyncSession, application_no: str
) -> tuple[BundleChildRow, BundleRow] | None:
    """The child and its bundle, the bundle's row locked first: every transition locks the
    bundle before any of its children, in one order, so two of them on the same bundle (two
    children's events on two partitions) wait for each other instead of deadlocking. None if
    the application is no bundle's child."""
    bundle_no = await session.scalar(
        select(BundleChildRow.bundle_no).where(BundleChildRow.application_no == application_no)
    )
    if bundle_no is None:
        return None
    bundle = await session.get(BundleRow, bundle_no, with_for_update=True)
    child = await session.get(
        BundleChildRow, application_no, with_for_update=True, populate_existing=True
    )
    assert bundle is not None and child is not None
    return child, bundle


def _later_by(days: int) -> Callable[[date], date]:
    return lambda start: add_working_days(start, days)


async def on_decision(
    session: AsyncSession,
    decided: events.ApplicationApproved | events.ApplicationRejected,
    outbox: Outbox,
) -> str | None:
    """Note a child's decision and decide the bundle's state again (domain.bundles); None if
    the application is no bundle's child. Called after the application's own progress was
    recorded, so a decision from a locality that is not competent never gets here."""
    locked = await _locked(session, decided.application_no)
    if locked is None:
        return None
    child, bundle = locked
    outcome = APPROVED if isinstance(decided, events.ApplicationApproved) else REJECTED
    if child.outcome is None:  # the first decision stands (a redelivery changes nothing)
        child.outcome = outcome
        child.reason = decided.reason
    siblings = (
        await session.scalars(
            select(BundleChildRow)
            .where(BundleChildRow.bundle_no == child.bundle_no)
            .execution_options(populate_existing=True)
        )
    ).all()
    if bundle.status == FAILED:
        await bundle_compensation.restate(session, bundle, siblings)
    if bundle.status == OPEN:  # failed and completed are final
        bundle.status = bundle_status(
            Child(
                item_code=sibling.item_code,
                required=sibling.required,
                held=sibling.status == ChildStatus.HELD,
                outcome=sibling.outcome,
                waits_for=sibling.waits_for,
            )
            for sibling in siblings
        )
        if bundle.status == FAILED:
            await bundle_compensation.fail(session, bundle, siblings, outbox)
        elif bundle.status == COMPLETED:
            await outbox.add(
                session,
                events.BundleCompleted(
                    bundle_no=bundle.bundle_no,
                    bundle_id=bundle.bundle_id,
                    receiving_locality=bundle.receiving_locality,
                    window_id=bundle.window_id,
                    members=sorted(s.application_no for s in siblings if s.outcome == APPROVED),
                    completed_at=clock.now(),
                ),
            )
    return bundle.status


async def on_withdrawn(session: AsyncSession, withdrawn: events.CaseWithdrawn) -> None:
    """Approval closed a child's case undecided: its outcome (unless a decision came first)."""
    locked = await _locked(session, withdrawn.application_no)
    if locked is not None and locked[0].outcome is None:
        locked[0].outcome = bundle_compensation.WITHDRAWN


async def _release(
    session: AsyncSession,
    child: BundleChildRow,
    cited: list[events.CitedCertificate],
    outbox: Outbox,
) -> bool:
    bundle = await session.get(BundleRow, child.bundle_no, with_for_update=True)
    assert bundle is not None
    if bundle.status == FAILED:
        return False  # a required sibling was rejected: nothing more starts
    won = await session.execute(
        update(BundleChildRow)
        .where(
            BundleChildRow.application_no == child.application_no,
            BundleChildRow.status == ChildStatus.HELD,
        )
        .values(status=ChildStatus.RELEASED)
    )
    if not won.rowcount:  # type: ignore[attr-defined]
        return False
    personal = outbox.personal_data()
    body = ApplicationIn.model_validate(
        {
            "item_code": child.item_code,
            "applicant": personal.decrypt_json(
                bundle.applicant, where=bundle_place("applicant", bundle.bundle_no)
            ),
            "property_locality": bundle.property_locality,
            "materials": [
                {name: m[name] for name in ("material_code", "sha256", "original_verified")}
                for m in child.materials
            ],
            "commitments": child.commitments,
            "delivery": personal.decrypt_json(
                bundle.delivery, where=bundle_place("delivery", bundle.bundle_no)
            ),
            "agent": personal.decrypt_optional(
                bundle.agent, where=bundle_place("agent", bundle.bundle_no)
            ),
        }
    )
    clerk = Principal(
        sub=bundle.accepted_by,
        role="window_clerk",
        locality=bundle.receiving_locality,
        window_id=bundle.window_id,
    )
    verdict = Accept(
        item=await _item(session, bundle.catalog_version, child.item_code),
        # Routing resolves it again from the accepted event; the window's rights were checked
        # when the bundle was handed in.
        resolution=Resolution(child.competent_locality, child.department, frozenset()),
        deferred=child.deferred,
        scans={m["sha256"]: (m["size"], m["content_type"]) for m in child.materials},
        catalog_version=bundle.catalog_version,
        certificates=cited,
    )
    # A bundle handed in online (全程网办) releases its children online too.
    online = await session.get(OnlineApplicationRow, bundle.bundle_no) is not None
    one = SubmitApplication(
        body,
        clerk,
        f"bundle:{bundle.bundle_no}:{child.item_code}",
        channel="online" if online else "window",
    )
    answer, values = acceptance_of(
        one, verdict, outbox, 0, bundle_no=bundle.bundle_no, reserved_no=child.application_no
    )
    # Its first timeline entry says how it started: released, the certificates cited.
    values["entry_note"] = N_(
        "Released in bundle application {bundle_no}: certificate {certificates} cited, "
        "nothing uploaded"
    )
    values["entry_note_params"] = {
        "bundle_no": bundle.bundle_no,
        "certificates": ", ".join(c.certificate_no for c in cited),
    }
    await session.execute(CHILD, values)
    # Its own clock starts now: the estimate gives way to its promised date.
    child.promised_date = date.fromisoformat(answer.body["promised_date"])
    set_after_commit(session, outbox.committed)
    return True


async def _item(session: AsyncSession, version: str, item_code: str) -> CatalogItem:
    """The item's guide in the version the bundle was accepted under (never changes)."""
    row = await session.get(CatalogVersionRow, version)
    assert row is not None, version
    return next(
        CatalogItem.model_validate(item) for item in row.items if item["item_code"] == item_code
    )
