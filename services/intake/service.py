"""Intake's use cases: accept an application at a window, record its progress, answer queries.

Accepting decides from memory (the catalog, and the replica of routing's rules) and writes once:
the application, its first timeline entry, its event (outbox) and the idempotency record go in
ONE statement (data-modifying CTEs, atomic on its own: one round trip), and nothing is read
first but the scans not seen before and the certificates an application cites (免证办), whose
revocation may arrive at any time. A retry with the same Idempotency-Key finds out at that
write (the key's primary key) and gets the first answer instead.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Any, NamedTuple

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.dml import Insert

from services.intake import domain
from services.intake.db import (
    ACCEPT,
    ISSUE_NOTICE,
    ApplicationNumbers,
    ApplicationRow,
    CatalogVersionRow,
    CertificateRow,
    EvaluationRow,
    IdempotencyKeyRow,
    NoticeRow,
    ScanRow,
    ScanUploadRow,
    SupplementRow,
    TimelineEntryRow,
    bound,
)
from services.intake.schemas import (
    ApplicationAcceptedOut,
    ApplicationIn,
    ApplicationMaterialIn,
    ApplicationOut,
    MaterialIn,
    ScanOut,
    SupplementIn,
    SupplementOut,
    TimelineEntryOut,
)
from shared import clock
from shared.auth import Principal
from shared.blobstore import BlobStore, TooLarge, UnsupportedType
from shared.certificates import contradictions
from shared.competence import check_competent, may_be_competent
from shared.crypto.personal import place
from shared.db import Database, insert_if_absent
from shared.errors import (
    ApiError,
    Conflict,
    DomainError,
    Forbidden,
    Invalid,
    NotFound,
    Unavailable,
    error_body,
)
from shared.identity import id_number_digest, mask_name, validate_id_number
from shared.jurisdiction import JurisdictionError, Resolution, RuleBook
from shared.messaging import events, topics
from shared.messaging.outbox import Outbox
from shared.reference.catalog import CATALOG, CATALOG_VERSION, CatalogItem
from shared.reference.localities import LIKE_ESCAPE, PROVINCE, is_within, within_pattern
from shared.telemetry import current_trace_id
from shared.vocabulary import ApplicationStatus, DeliveryMethod, Right
from shared.workdays import add_working_days

# Fields of routing's resolve request, as the fields of the application they come from.
_APPLICATION_FIELDS = {
    "applicant_locality": "applicant.locality",
    "property_locality": "property_locality",
}


class ScanRegistry:
    """Which scans each window uploaded, with their size and type: a window may cite only the
    scans it uploaded (or, in a supplement, those of the application itself). A scan is
    content-addressed and never changes or goes away, so once seen at a window it is remembered
    in memory: a submission that references known scans costs no lookup."""

    def __init__(self, db: Database, capacity: int = 100_000) -> None:
        self.db = db
        self.capacity = capacity
        self._known: dict[tuple[str, str], tuple[int, str]] = {}

    def remember(self, sha256: str, window_id: str, size: int, content_type: str) -> None:
        if len(self._known) >= self.capacity:
            self._known.clear()  # forgetting only costs a lookup
        self._known[(sha256, window_id)] = (size, content_type)

    async def lookup(self, wanted: Iterable[str], window_id: str) -> dict[str, tuple[int, str]]:
        """The size and type of each scan among `wanted` that `window_id` uploaded; others (never
        uploaded, or uploaded at another window only) are left out."""
        wanted = set(wanted)
        missing = [sha for sha in wanted if (sha, window_id) not in self._known]
        if missing:
            async with self.db.engine.connect() as connection:
                rows = await connection.execute(
                    select(ScanRow.sha256, ScanRow.size, ScanRow.content_type)
                    .join(ScanUploadRow, ScanUploadRow.sha256 == ScanRow.sha256)
                    .where(ScanRow.sha256.in_(missing), ScanUploadRow.window_id == window_id)
                )
                for sha, size, content_type in rows:
                    self.remember(sha, window_id, size, content_type)
        return {
            sha: self._known[(sha, window_id)] for sha in wanted if (sha, window_id) in self._known
        }


# Another intake process learns a version published through this one within this many seconds.
CATALOG_REFRESH_SECONDS = 30.0
# A read naming a version this process does not know looks in the table at most this often.
_MISS_REFRESH_SECONDS = 1.0
BUILT_IN = "built-in"


@dataclass(frozen=True)
class CatalogVersion:
    """One published version of the catalog (通办事项清单): never changed once published."""

    version: str
    published_at: datetime
    published_by: str
    items: Mapping[str, CatalogItem]

    @classmethod
    def of(
        cls,
        version: str,
        items: Iterable[CatalogItem],
        *,
        published_at: datetime,
        published_by: str,
    ) -> CatalogVersion:
        by_code = MappingProxyType({item.item_code: item for item in items})
        return cls(version, published_at, published_by, by_code)


class _Known(NamedTuple):
    current: CatalogVersion | None
    versions: Mapping[str, CatalogVersion]


class Catalog:
    """The catalog versions this process knows, and the current one: the most recently
    published.

    Its state is one immutable snapshot, replaced by one assignment when a version is learnt.
    A use case takes `current` once and works with that version whole, whatever is published
    meanwhile; the other accessors each read the current version anew."""

    def __init__(self, versions: Iterable[CatalogVersion] = ()) -> None:
        self._known = _Known(None, MappingProxyType({}))
        self.refreshed_at = float("-inf")  # time.monotonic() of the last look at the table
        self.learn(versions)

    @classmethod
    def fixed(cls, items: Mapping[str, CatalogItem], version: str = CATALOG_VERSION) -> Catalog:
        """One version of the given items (what tests judge with)."""
        published = CatalogVersion.of(
            version, items.values(), published_at=clock.now(), published_by=BUILT_IN
        )
        return cls([published])

    def learn(self, versions: Iterable[CatalogVersion]) -> None:
        """Take these versions in; a version known already stays as it is (it never changes)."""
        known = dict(self._known.versions)
        for published in versions:
            known.setdefault(published.version, published)
        current = max(known.values(), key=lambda v: (v.published_at, v.version), default=None)
        self._known = _Known(current, MappingProxyType(known))

    @property
    def current(self) -> CatalogVersion:
        current = self._known.current
        if current is None:
            raise Unavailable("catalog_unavailable", "The catalog is not loaded yet.")
        return current

    @property
    def version(self) -> str:
        return self.current.version

    def knows(self, version: str) -> bool:
        return version in self._known.versions

    def of(self, version: str) -> CatalogVersion | None:
        return self._known.versions.get(version)

    def versions(self) -> list[CatalogVersion]:
        """Every known version, the most recently published first."""
        return sorted(
            self._known.versions.values(), key=lambda v: (v.published_at, v.version), reverse=True
        )

    def item(self, item_code: str, version: str | None) -> CatalogItem | None:
        """The item as `version` lists it; as the current version does if that is None or not
        known here yet (published through another process moments ago)."""
        published = (self.of(version) if version else None) or self.current
        return published.items.get(item_code)


@dataclass(frozen=True)
class Intake:
    """What intake's use cases work with, wired once in main.py. `catalog` is one holder whose
    content (the known versions, the current one) is swapped as versions are published."""

    db: Database
    outbox: Outbox
    catalog: Catalog
    rules: RuleBook
    numbers: ApplicationNumbers
    blobs: BlobStore
    scans: ScanRegistry
    max_scan_bytes: int
    # The key of the ID number digests (settings: PII_DIGEST_KEY), shared with approval, which
    # puts the holder's digest on the certificates it issues.
    digest_key: bytes


@dataclass(frozen=True)
class SubmitApplication:
    """Command: a window clerk hands in an application."""

    body: ApplicationIn
    clerk: Principal
    idempotency_key: str


@dataclass(frozen=True)
class Answer:
    """The HTTP answer to a submission, kept with its Idempotency-Key and replayed on retry."""

    status_code: int
    body: dict[str, Any]


@dataclass(frozen=True)
class _Accept:
    item: CatalogItem
    resolution: Resolution
    deferred: list[str]
    scans: Mapping[str, tuple[int, str]]
    catalog_version: str  # the version the item was taken from
    # 免证办: the certificates cited instead of materials, as checked.
    certificates: list[events.CitedCertificate]


@dataclass(frozen=True)
class _Notify:
    item: CatalogItem
    problems: list[domain.Problem]


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


# --- the catalog: versions published by the province --------------------------------------


def _announcement(published: CatalogVersion) -> events.CatalogPublished:
    return events.CatalogPublished(
        version=published.version,
        published_at=published.published_at,
        rules=[
            events.CatalogRule(
                item_code=item.item_code,
                jurisdiction=item.jurisdiction,
                competent_level=item.competent_level,
                department=item.department,
            )
            for item in published.items.values()
        ],
    )


async def _publish(session: AsyncSession, outbox: Outbox, published: CatalogVersion) -> bool:
    """Store the version and announce it (same transaction); False if it exists already."""
    stored = await insert_if_absent(
        session,
        CatalogVersionRow,
        version=published.version,
        items=[item.model_dump(mode="json") for item in published.items.values()],
        published_at=published.published_at,
        published_by=published.published_by,
    )
    if stored:
        await outbox.add(session, _announcement(published), topic=topics.INTAKE_EVENTS)
    return stored


async def publish_built_in_catalog(db: Database, outbox: Outbox) -> bool:
    """At start: the built-in catalog (shared.reference.catalog) is published as its version
    unless a version of that name exists already, which is then kept as it is (a published
    version never changes: a corrected built-in table needs a new CATALOG_VERSION). Announced
    like any version, so routing takes its rules over those of an older publication."""
    built_in = CatalogVersion.of(
        CATALOG_VERSION, CATALOG, published_at=clock.now(), published_by=BUILT_IN
    )
    async with db.transaction() as session:
        return await _publish(session, outbox, built_in)


async def refresh_catalog(db: Database, catalog: Catalog) -> int:
    """Learn the versions published since the last look (through another intake process, or
    the built-in one at start); returns how many. A known version is never read again."""
    catalog.refreshed_at = time.monotonic()
    async with db.transaction() as session:
        listed = await session.scalars(select(CatalogVersionRow.version))
        unknown = [version for version in listed if not catalog.knows(version)]
        if not unknown:
            return 0
        rows = await session.scalars(
            select(CatalogVersionRow).where(CatalogVersionRow.version.in_(unknown))
        )
        catalog.learn(
            CatalogVersion.of(
                row.version,
                (CatalogItem.model_validate(item) for item in row.items),
                published_at=row.published_at,
                published_by=row.published_by,
            )
            for row in rows
        )
    return len(unknown)


async def catalog_version(intake: Intake, version: str | None) -> CatalogVersion:
    """The version named, or the current one. A version this process does not know yet may
    have been published through another one moments ago: the table is asked (at most once a
    second) before the answer is no."""
    catalog = intake.catalog
    if version is None:
        return catalog.current
    found = catalog.of(version)
    if found is None and time.monotonic() - catalog.refreshed_at >= _MISS_REFRESH_SECONDS:
        await refresh_catalog(intake.db, catalog)
        found = catalog.of(version)
    if found is None:
        raise NotFound("unknown_catalog_version", f"No catalog version {version} was published.")
    return found


@dataclass(frozen=True)
class PublishCatalog:
    """Command: the province's administration publishes a new version of the catalog, which
    becomes current at once (in other intake processes within CATALOG_REFRESH_SECONDS)."""

    version: str
    items: Sequence[CatalogItem]
    admin: Principal


async def publish_catalog(intake: Intake, command: PublishCatalog) -> CatalogVersion:
    if command.admin.locality != PROVINCE:
        raise Forbidden(
            "not_province_admin",
            f"Only the province's administration ({PROVINCE}) publishes the catalog.",
            {"locality": command.admin.locality},
        )
    published = CatalogVersion.of(
        command.version,
        # The plain guide, whatever model the request parsed it into.
        (CatalogItem.model_validate(item.model_dump()) for item in command.items),
        published_at=clock.now(),
        published_by=command.admin.sub[:64],  # the column's size
    )
    async with intake.db.transaction() as session:
        if not await _publish(session, intake.outbox, published):
            raise Conflict(
                "version_exists",
                f"Catalog version {command.version} was published before; name a new version.",
                {"version": command.version},
            )
    # Committed: current in this process from now on.
    intake.catalog.learn([published])
    return published


# --- applications ------------------------------------------------------------------------------


async def submit_application(command: SubmitApplication, intake: Intake) -> Answer:
    window_id = command.clerk.window_id
    if window_id is None:
        raise Forbidden("window_required", "Only a clerk at a window can hand in applications.")
    fingerprint = request_hash(command.body)
    scans = await intake.scans.lookup(referenced_scans(command.body), window_id)
    registry = await registered_certificates(
        intake.db, cited_certificates(command.body), intake.rules
    )
    try:
        verdict = _judge(command, intake, scans, registry)
    except DomainError:
        # A retry of a request that was answered before gets that first answer, even if the
        # window's rights changed since.
        async with intake.db.transaction() as session:
            replay = await _replay(session, window_id, command.idempotency_key, fingerprint)
        if replay is None:
            raise
        return replay
    if isinstance(verdict, _Notify):
        statement, (answer, values) = ISSUE_NOTICE, _notice(command, verdict)
    else:
        sequence = await intake.numbers.take()
        statement, (answer, values) = ACCEPT, _acceptance(command, verdict, intake, sequence)
    answer = await _commit_once(intake.db, command, fingerprint, answer, statement, values)
    if answer.status_code == 201:
        intake.outbox.written()
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


def _unknown_scans(
    materials: Iterable[MaterialIn | ApplicationMaterialIn], scans: Mapping[str, tuple[int, str]]
) -> list[domain.Problem]:
    return [
        domain.Problem(
            "scan_not_uploaded",
            "No scan with this sha256 was uploaded at this window (POST /v1/materials first):"
            " a window cites only the scans it uploaded, or those of the application itself.",
            material_code=m.material_code,
        )
        for m in materials
        if m.sha256 is not None and m.sha256 not in scans
    ]


def _reference_problems(
    body: ApplicationIn, scans: Mapping[str, tuple[int, str]]
) -> list[domain.Problem]:
    """Scans referenced but never uploaded, and an agent's bad ID: one-time notice problems."""
    problems = _unknown_scans(body.materials, scans)
    agent = body.agent
    if agent is not None:
        if agent.authorization_sha256 not in scans:
            problems.append(
                domain.Problem(
                    "scan_not_uploaded",
                    "The letter of authorization's scan was never uploaded at this window.",
                    field="agent.authorization_sha256",
                )
            )
        id_problem = validate_id_number(agent.id_type, agent.id_number)
        if id_problem:
            problems.append(
                domain.Problem("invalid_id_number", id_problem, field="agent.id_number")
            )
    return problems


def _judge(
    command: SubmitApplication,
    intake: Intake,
    scans: Mapping[str, tuple[int, str]],
    registry: Mapping[str, domain.RegisteredCertificate] | None = None,
) -> _Accept | _Notify:
    """Check the application against its item's standard and this window's rights, from
    memory (and `registry`: the cited certificates the replica knows). Raises what refuses it
    outright; returns the one-time notice or the acceptance."""
    clerk, body = command.clerk, command.body
    registry = registry or {}
    today = clock.today()
    catalog = intake.catalog.current  # one version throughout, whatever is published meanwhile
    item = catalog.items.get(body.item_code)
    if item is None:
        raise Invalid.of_field("unknown_item", f"No catalog item {body.item_code}.", "item_code")
    submission = domain.Submission(
        applicant_kind=body.applicant.kind,
        id_type=body.applicant.id_type,
        id_number=body.applicant.id_number,
        applicant_locality=body.applicant.locality,
        property_locality=body.property_locality,
        materials=[
            domain.SubmittedMaterial(m.material_code, m.original_verified)
            for m in body.materials
            if m.sha256 is not None
        ],
        commitments=body.commitments,
        delivery_method=body.delivery.method,
        has_postal_address=body.delivery.address is not None,
        citations=[
            domain.CitedMaterial(m.material_code, m.certificate_no)
            for m in body.materials
            if m.certificate_no is not None
        ],
        applicant_id_digest=(
            id_number_digest(body.applicant.id_number, intake.digest_key)
            if any(m.certificate_no is not None for m in body.materials)
            else ""
        ),
    )
    try:
        resolution = intake.rules.resolve(
            item_code=item.item_code,
            applicant_locality=body.applicant.locality,
            property_locality=body.property_locality,
            receiving_locality=clerk.locality,
            at=clock.now(),
        )
    except JurisdictionError as problem:
        assessment = domain.assess(
            item, submission, may_verify_originals=False, registry=registry, today=today
        )
        if not any(p.code == problem.code for p in assessment.problems):
            field = _APPLICATION_FIELDS.get(problem.field, "applicant.locality")
            assessment.problems.append(domain.Problem(problem.code, str(problem), field=field))
        return _Notify(item, [*assessment.problems, *_reference_problems(body, scans)])
    if resolution is None:
        raise Unavailable(
            "routing_rules_unavailable",
            f"Routing has not published the jurisdiction rule of {item.item_code} yet; "
            "try again shortly.",
        )
    rights = resolution.receiving_rights
    if Right.ACCEPT not in rights:
        raise Forbidden(
            "no_accept_right",
            f"No trust agreement lets windows of {clerk.locality} accept {item.item_code} "
            f"for {resolution.competent_locality}.",
            {"competent_locality": resolution.competent_locality, "item_code": item.item_code},
        )
    assessment = domain.assess(
        item,
        submission,
        may_verify_originals=Right.VERIFY_ORIGINAL in rights,
        registry=registry,
        today=today,
    )
    if body.delivery.method == DeliveryMethod.WINDOW_PICKUP and Right.DELIVER not in rights:
        assessment.problems.append(
            domain.Problem(
                "no_deliver_right",
                "This window may not hand over the result of this item; choose postal delivery.",
                field="delivery.method",
            )
        )
    assessment.problems.extend(_reference_problems(body, scans))
    if not assessment.complete:
        return _Notify(item, assessment.problems)
    certificates = [
        events.CitedCertificate(
            material_code=citation.material_code,
            certificate_no=citation.certificate_no,
            issuer_locality=registry[citation.certificate_no].issuer_locality,
            item_code=registry[citation.certificate_no].item_code,
        )
        for citation in submission.citations
    ]
    return _Accept(item, resolution, assessment.deferred, scans, catalog.version, certificates)


async def _replay(
    session: AsyncSession, window_id: str, key: str, fingerprint: str
) -> Answer | None:
    stored = await session.get(IdempotencyKeyRow, (window_id, key))
    if stored is None:
        return None
    if stored.request_hash != fingerprint:
        raise Conflict(
            "idempotency_key_reused",
            "This Idempotency-Key was used for a different application.",
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


def _notice(command: SubmitApplication, verdict: _Notify) -> tuple[Answer, dict[str, Any]]:
    clerk = command.clerk
    now = clock.now()
    notice_no = _notice_number(clerk.locality, now)
    listed = [p.as_dict() for p in verdict.problems]
    notice = {
        "notice_no": notice_no,
        "item_code": verdict.item.item_code,
        "window_id": clerk.window_id,
        "receiving_locality": clerk.locality,
        "problems": listed,
        "issued_at": now,
    }
    answer = Answer(
        422,
        error_body(
            "incomplete_application",
            f"The application for {verdict.item.name} is incomplete: every problem is listed.",
            {"notice_no": notice_no, "problems": listed},
        ),
    )
    return answer, bound("notice_", notice)


def _notice_number(locality: str, now: datetime) -> str:
    return f"N{locality}{now:%Y%m%d}{secrets.token_hex(4).upper()}"


def _acceptance(
    command: SubmitApplication, verdict: _Accept, intake: Intake, sequence: int
) -> tuple[Answer, dict[str, Any]]:
    clerk, body = command.clerk, command.body
    assert clerk.window_id is not None
    window_id = clerk.window_id
    item, resolution = verdict.item, verdict.resolution
    now = clock.now()
    today = now.date()
    application_no = domain.application_number(clerk.locality, today, sequence)
    promised = add_working_days(today, item.promised_days)
    deferred_due_on = add_working_days(today, item.deferred_days) if verdict.deferred else None
    applicant = body.applicant.model_dump(mode="json")
    # The scans; the materials proven by a cited certificate are `certificates`.
    materials = [
        _with_scan(m.model_dump(mode="json", exclude={"certificate_no"}), verdict.scans)
        for m in body.materials
        if m.sha256 is not None
    ]
    certificates = [c.model_dump(mode="json") for c in verdict.certificates]
    delivery = body.delivery.model_dump(mode="json")
    agent = body.agent.model_dump(mode="json") if body.agent else None
    personal = intake.outbox.personal_data()
    # Personal data is stored encrypted, each value bound to its column and application.
    application = {
        "application_no": application_no,
        "item_code": item.item_code,
        "status": ApplicationStatus.ACCEPTED,
        "applicant": personal.encrypt_json(applicant, where=at_rest("applicant", application_no)),
        "property_locality": body.property_locality,
        "receiving_locality": clerk.locality,
        "window_id": window_id,
        "competent_locality": resolution.competent_locality,
        "routed_locality": None,  # until routing's fact is read
        "transferring_to": None,
        "department": resolution.department,
        "materials": materials,
        "commitments": body.commitments,
        "deferred": verdict.deferred,
        "deferred_due_on": deferred_due_on,
        "requested_materials": None,
        "delivery": personal.encrypt_json(delivery, where=at_rest("delivery", application_no)),
        "agent": personal.encrypt_optional(agent, where=at_rest("agent", application_no)),
        "agent_name_masked": mask_name(body.agent.name) if body.agent else None,
        "promised_date": promised,
        "accepted_at": now,
        "accepted_by": clerk.sub,
        "catalog_version": verdict.catalog_version,
        "updated_at": now,
        "certificates": certificates,
        "trace_id": current_trace_id(),
    }
    first_entry = {
        "application_no": application_no,
        "at": now,
        "status": ApplicationStatus.ACCEPTED,
        "locality": clerk.locality,
        "note": f"Accepted at window {window_id}",
    }
    # tongban.intake.events is read province-wide: the personal data on it is masked, and
    # travels in clear only sealed for routing, which hands it to the competent locality.
    sealed = personal.seal_for(
        "routing",
        {"applicant": applicant, "delivery": delivery, "agent": agent},
        context=application_no,
    )
    accepted = events.ApplicationAccepted(
        application_no=application_no,
        item_code=item.item_code,
        item_name=item.name,
        applicant=events.masked_applicant(events.Applicant.model_validate(applicant)),
        property_locality=body.property_locality,
        receiving_locality=clerk.locality,
        window_id=window_id,
        competent_locality=resolution.competent_locality,
        department=resolution.department,
        materials=[events.SubmittedMaterial.model_validate(m) for m in materials],
        commitments=body.commitments,
        deferred=verdict.deferred,
        delivery=events.masked_delivery(events.Delivery.model_validate(delivery)),
        accepted_at=now,
        promised_date=promised,
        statutory_days=item.statutory_days,
        promised_days=item.promised_days,
        agent=events.masked_agent(events.Agent.model_validate(agent) if agent else None),
        deferred_due_on=deferred_due_on,
        catalog_version=verdict.catalog_version,
        certificates=verdict.certificates,
        personal_data=events.Sealed.model_validate(sealed),
    )
    _, announcement = intake.outbox.row_for(accepted, topic=topics.INTAKE_EVENTS)
    out = ApplicationAcceptedOut(
        application_no=application_no,
        status=ApplicationStatus.ACCEPTED,
        item_code=item.item_code,
        receiving_locality=clerk.locality,
        window_id=window_id,
        competent_locality=resolution.competent_locality,
        department=resolution.department,
        promised_date=promised,
        accepted_at=now,
        deferred=verdict.deferred,
        deferred_due_on=deferred_due_on,
        catalog_version=verdict.catalog_version,
    )
    values = {
        **bound("app_", application),
        **bound("entry_", first_entry),
        **bound("event_", announcement),
    }
    return Answer(201, out.model_dump(mode="json")), values


def at_rest(column: str, application_no: str) -> str:
    """Where a personal-data column of intake's applications is bound (its AAD)."""
    return place(f"intake.applications.{column}", application_no)


def _with_scan(material: dict[str, Any], scans: Mapping[str, tuple[int, str]]) -> dict[str, Any]:
    """A material reference as events carry it: sha256 with the stored scan's size and type."""
    size, content_type = scans[material["sha256"]]
    return {**material, "size": size, "content_type": content_type}


async def record_progress(
    session: AsyncSession, payload: events.ApplicationEvent, at: datetime
) -> bool:
    """Append what an event means to the application's timeline; False if it means nothing.
    NotFound if intake has no such application (the event is dead-lettered). An approval event
    counts only from the locality routing made competent (shared.competence: refused for good
    from another, retried while routing's fact is still on its way)."""
    fact = domain.timeline_fact(payload)
    if fact is None:
        return False
    application = await session.scalar(
        select(ApplicationRow)
        .where(ApplicationRow.application_no == payload.application_no)
        .with_for_update()
    )
    if application is None:
        raise NotFound("application_not_found", f"No application {payload.application_no}.")
    _check_competent(payload, application)
    current = ApplicationStatus(application.status)
    session.add(
        TimelineEntryRow(
            application_no=payload.application_no,
            at=at,
            status=fact.entry_status or fact.status or current,
            locality=fact.locality,
            note=fact.note,
        )
    )
    application.status = domain.status_after(current, application.competent_locality, fact)
    if fact.competent_locality:
        application.competent_locality = fact.competent_locality
        application.routed_locality = fact.competent_locality
        application.transferring_to = None
    if fact.requested_materials is not None:
        application.requested_materials = fact.requested_materials
    application.updated_at = clock.now()
    return True


# --- 免证办: the replica of the certificate registry ------------------------------------------


async def record_certificate_issued(
    session: AsyncSession, issued: events.CertificateIssued
) -> bool:
    """A certificate joins the replica; False if it was there already (the same certificate
    announced twice, or after its revocation, changes nothing). The consumer runner checked
    that the issuer's seal signed the event; what the event says must also be what the sealed
    document says, or it is refused (dead-lettered) rather than made citable."""
    differing = contradictions(issued, issued.document.content)
    if differing:
        raise Invalid(
            "certificate_inconsistent",
            f"Certificate {issued.certificate_no}: the event and its sealed document differ.",
            {"fields": differing},
        )
    await _check_issuer(session, issued)
    return await insert_if_absent(
        session,
        CertificateRow,
        certificate_no=issued.certificate_no,
        issuer_locality=issued.locality,
        item_code=issued.item_code,
        holder_id_digest=issued.holder_id_digest,
        issued_on=issued.issued_on,
        valid_until=issued.valid_until,
        revoked_at=None,
        revoked_reason=None,
    )


async def record_certificate_revoked(
    session: AsyncSession, revoked: events.CertificateRevoked
) -> bool:
    """A certificate of the replica can no longer be cited; False if it was revoked already
    (the first revocation stands). Only the issuing locality revokes its certificates (its seal
    signed the event). NotFound if the replica never had it: its issue comes first on the
    application's key, so that is a fact out of place (dead-lettered for operators)."""
    await _check_issuer(session, revoked)
    row = await session.get(CertificateRow, revoked.certificate_no, with_for_update=True)
    if row is None:
        raise NotFound(
            "certificate_not_found", f"No certificate {revoked.certificate_no} to revoke."
        )
    if row.issuer_locality != revoked.locality:
        raise Forbidden(
            "not_issuer",
            f"Certificate {revoked.certificate_no} was issued by {row.issuer_locality}, "
            f"not {revoked.locality}.",
        )
    if row.revoked_at is not None:
        return False
    row.revoked_at = revoked.revoked_at
    row.revoked_reason = revoked.reason
    return True


async def _check_issuer(
    session: AsyncSession, event: events.CertificateIssued | events.CertificateRevoked
) -> None:
    """A certificate of an application intake accepted counts only from the locality routing
    made competent for it. (One of an application before intake's time, or of another system,
    can be cited only if its issuer may be competent for its item: checked at citation.)"""
    application = await session.get(ApplicationRow, event.application_no)
    if application is not None:
        _check_competent(event, application)


def _check_competent(payload: events.EventPayload, application: ApplicationRow) -> None:
    check_competent(
        payload,
        application.application_no,
        application.routed_locality,
        application.transferring_to,
    )


async def record_transfer(session: AsyncSession, transferred: events.CaseTransferred) -> None:
    """移交: the competent locality handed the case on. Its timeline entry comes with routing's
    Transferred; until then the case is nobody's (shared.competence)."""
    application = await session.get(
        ApplicationRow, transferred.application_no, with_for_update=True
    )
    if application is None:
        raise NotFound("application_not_found", f"No application {transferred.application_no}.")
    if application.routed_locality == transferred.to_locality and (
        application.transferring_to is None
    ):
        return  # routing's fact of this transfer was read first
    _check_competent(transferred, application)
    application.transferring_to = transferred.to_locality


@dataclass(frozen=True)
class Evaluate:
    """Command: the applicant rates a finished application at a window (好差评)."""

    application_no: str
    score: int
    comment: str
    by: Principal


FINISHED = (ApplicationStatus.DELIVERED, ApplicationStatus.REJECTED)


async def evaluate(session: AsyncSession, outbox: Outbox, command: Evaluate) -> EvaluationRow:
    application = await session.get(ApplicationRow, command.application_no)
    if application is None or not _may_follow(command.by, application):
        raise NotFound("application_not_found", f"No application {command.application_no}.")
    if application.status not in FINISHED:
        raise Conflict(
            "not_finished",
            "An application is rated once it is delivered or rejected.",
            {"status": application.status},
        )
    evaluation = {
        "application_no": application.application_no,
        "score": command.score,
        "comment": command.comment,
        "item_code": application.item_code,
        "window_id": application.window_id,
        "receiving_locality": application.receiving_locality,
        "competent_locality": application.competent_locality,
        "evaluated_at": clock.now(),
        "evaluated_by": command.by.sub,
    }
    if not await insert_if_absent(session, EvaluationRow, **evaluation):
        raise Conflict("already_evaluated", "This application has been rated already.")
    rated = events.ApplicationEvaluated(
        application_no=application.application_no,
        item_code=application.item_code,
        receiving_locality=application.receiving_locality,
        window_id=application.window_id,
        competent_locality=application.competent_locality,
        score=command.score,
        has_comment=bool(command.comment.strip()),
        evaluated_at=evaluation["evaluated_at"],
    )
    await outbox.add(session, rated, topic=topics.INTAKE_EVENTS)
    return EvaluationRow(**evaluation)


GROUPINGS = {
    "window": EvaluationRow.window_id,
    "locality": EvaluationRow.receiving_locality,
    "item": EvaluationRow.item_code,
}


async def evaluation_statistics(
    session: AsyncSession, viewer: Principal, by: str
) -> list[dict[str, Any]]:
    """Ratings per window, receiving locality or item, of the applications the viewer's
    locality received or decides."""
    key = GROUPINGS[by]
    pattern = within_pattern(viewer.locality)
    scores = [func.count().filter(EvaluationRow.score == n).label(f"s{n}") for n in range(1, 6)]
    rows = await session.execute(
        select(key, func.count(), func.avg(EvaluationRow.score), *scores)
        .where(
            or_(
                EvaluationRow.receiving_locality.like(pattern, escape=LIKE_ESCAPE),
                EvaluationRow.competent_locality.like(pattern, escape=LIKE_ESCAPE),
            )
        )
        .group_by(key)
        .order_by(key)
    )
    return [
        {
            "key": group,
            "count": count,
            "average": round(float(average), 2),
            "scores": {str(n): counts[n - 1] for n in range(1, 6)},
        }
        for group, count, average, *counts in rows
    ]


def _may_follow(principal: Principal, application: ApplicationRow) -> bool:
    return any(
        is_within(code, principal.locality)
        for code in (application.receiving_locality, application.competent_locality)
    )


async def get_application(
    session: AsyncSession, application_no: str, principal: Principal
) -> ApplicationOut:
    # One statement, so one snapshot: the status and the timeline always agree, even while a
    # consumer commits the next step between what would otherwise be two reads.
    rows = (
        await session.execute(
            select(ApplicationRow, TimelineEntryRow)
            .join(
                TimelineEntryRow, TimelineEntryRow.application_no == ApplicationRow.application_no
            )
            .where(ApplicationRow.application_no == application_no)
            .order_by(TimelineEntryRow.at, TimelineEntryRow.id)
        )
    ).all()
    application = rows[0][0] if rows else None
    # Another locality's application is reported as absent, not forbidden: numbers leak nothing.
    if application is None or not _may_follow(principal, application):
        raise NotFound("application_not_found", f"No application {application_no}.")
    return ApplicationOut(
        application_no=application.application_no,
        status=ApplicationStatus(application.status),
        item_code=application.item_code,
        competent_locality=application.competent_locality,
        receiving_locality=application.receiving_locality,
        window_id=application.window_id,
        promised_date=application.promised_date,
        deferred=application.deferred,
        deferred_due_on=application.deferred_due_on,
        requested_materials=application.requested_materials or [],
        agent_name_masked=application.agent_name_masked,
        catalog_version=application.catalog_version,
        certificates=[events.CitedCertificate.model_validate(c) for c in application.certificates],
        timeline=[
            TimelineEntryOut.model_validate(entry, from_attributes=True) for _, entry in rows
        ],
        trace_id=application.trace_id,
    )


async def get_notice(session: AsyncSession, notice_no: str, principal: Principal) -> dict[str, Any]:
    notice = await session.get(NoticeRow, notice_no)
    if notice is None or not is_within(notice.receiving_locality, principal.locality):
        raise NotFound("notice_not_found", f"No notice {notice_no}.")
    return {
        "notice_no": notice.notice_no,
        "item_code": notice.item_code,
        "window_id": notice.window_id,
        "issued_at": notice.issued_at.isoformat(),
        "problems": notice.problems,
    }


async def upload_scan(intake: Intake, chunks: AsyncIterator[bytes], clerk: Principal) -> ScanOut:
    """收件: a window stores the scan of one material. Its sha256 is computed here, its type
    told from its bytes; a refused upload stores nothing."""
    if clerk.window_id is None:
        raise Forbidden("window_required", "Only a clerk at a window can upload scans.")
    try:
        stored = await intake.blobs.put_verified(chunks, max_bytes=intake.max_scan_bytes)
    except TooLarge as refused:
        raise ApiError(
            413,
            "payload_too_large",
            f"A scan may be at most {intake.max_scan_bytes} bytes.",
            {"limit_bytes": intake.max_scan_bytes},
        ) from refused
    except UnsupportedType as refused:
        raise ApiError(
            415,
            "unsupported_media_type",
            "A scan must be a PDF, JPEG or PNG file.",
            {"accepted": ["application/pdf", "image/jpeg", "image/png"]},
        ) from refused
    now = clock.now()
    async with intake.db.transaction() as session:
        await insert_if_absent(
            session,
            ScanRow,
            sha256=stored.sha256,
            size=stored.size,
            content_type=stored.content_type,
            uploaded_at=now,
            uploaded_by=clerk.sub,
            window_id=clerk.window_id,
            locality=clerk.locality,
        )
        # The same bytes uploaded at another window are that window's to cite too.
        await insert_if_absent(
            session, ScanUploadRow, sha256=stored.sha256, window_id=clerk.window_id, uploaded_at=now
        )
    intake.scans.remember(stored.sha256, clerk.window_id, stored.size, stored.content_type)
    return ScanOut(sha256=stored.sha256, size=stored.size, content_type=stored.content_type)


@dataclass(frozen=True)
class HandInSupplement:
    """Command: materials the competent locality asked for (补正), or deferred ones (容缺),
    handed in at a window."""

    application_no: str
    body: SupplementIn
    clerk: Principal


async def hand_in_supplement(intake: Intake, command: HandInSupplement) -> SupplementOut:
    """At the receiving window, or any window whose locality holds the `notify` right for the
    item from the competent locality. Every problem is listed at once, as a one-time notice,
    and a refused supplement changes nothing."""
    if command.clerk.window_id is None:
        raise Forbidden("window_required", "Only a clerk at a window can take a supplement.")
    scans = await intake.scans.lookup(
        (m.sha256 for m in command.body.materials), command.clerk.window_id
    )
    async with intake.db.transaction() as session:
        outcome = await _take_supplement(session, intake, command, scans)
    if isinstance(outcome, SupplementOut):
        return outcome
    item_code, problems = outcome
    clerk = command.clerk
    now = clock.now()
    notice_no = _notice_number(clerk.locality, now)
    listed = [p.as_dict() for p in problems]
    async with intake.db.transaction() as session:
        session.add(
            NoticeRow(
                notice_no=notice_no,
                item_code=item_code,
                window_id=clerk.window_id,
                receiving_locality=clerk.locality,
                problems=listed,
                issued_at=now,
            )
        )
    raise Invalid(
        "incomplete_application",
        "The supplement is incomplete: every problem is listed.",
        {"notice_no": notice_no, "problems": listed},
    )


async def _take_supplement(
    session: AsyncSession,
    intake: Intake,
    command: HandInSupplement,
    scans: Mapping[str, tuple[int, str]],
) -> SupplementOut | tuple[str, list[domain.Problem]]:
    clerk = command.clerk
    window_id = clerk.window_id
    assert window_id is not None
    application = await session.get(ApplicationRow, command.application_no, with_for_update=True)
    if application is None:
        raise NotFound("application_not_found", f"No application {command.application_no}.")
    rights = _rights_at(intake, clerk, application)
    if Right.NOTIFY not in rights:
        raise Forbidden(
            "no_notify_right",
            f"Windows of {clerk.locality} may not take supplements for {application.item_code} "
            f"on behalf of {application.competent_locality}.",
        )
    requested = application.requested_materials or []
    expected = [*requested, *application.deferred]
    if not expected or application.status in FINISHED:
        raise Conflict(
            "no_supplement_expected",
            "Nothing is requested or deferred for this application.",
            {"status": application.status},
        )
    # The item's standard as the application was accepted under it.
    item = intake.catalog.item(application.item_code, application.catalog_version)
    problems = domain.assess_supplement(
        expected=expected,
        requested=requested,
        handed_in=[
            domain.SubmittedMaterial(m.material_code, m.original_verified)
            for m in command.body.materials
        ],
        original_required={
            m.material_code for m in (item.materials if item else []) if m.original_required
        },
        may_verify_originals=Right.VERIFY_ORIGINAL in rights,
    )
    scans = {**await _scans_of(session, application), **scans}
    problems += _unknown_scans(command.body.materials, scans)
    if problems:
        return application.item_code, problems
    now = clock.now()
    materials = [_with_scan(m.model_dump(mode="json"), scans) for m in command.body.materials]
    codes = [m["material_code"] for m in materials]
    session.add(
        SupplementRow(
            application_no=application.application_no,
            materials=materials,
            window_id=window_id,
            locality=clerk.locality,
            handed_in_at=now,
            handed_in_by=clerk.sub,
        )
    )
    application.deferred = [c for c in application.deferred if c not in codes]
    application.requested_materials = [c for c in requested if c not in codes] or None
    application.updated_at = now
    session.add(
        TimelineEntryRow(
            application_no=application.application_no,
            at=now,
            status=application.status,
            locality=clerk.locality,
            note=f"Materials {', '.join(codes)} handed in at window {window_id}",
        )
    )
    supplemented = events.ApplicationSupplemented(
        application_no=application.application_no,
        item_code=application.item_code,
        materials=[events.SubmittedMaterial.model_validate(m) for m in materials],
        receiving_locality=clerk.locality,
        window_id=window_id,
        competent_locality=application.competent_locality,
        supplemented_at=now,
    )
    await intake.outbox.add(session, supplemented, topic=topics.INTAKE_EVENTS)
    return SupplementOut(
        application_no=application.application_no,
        status=ApplicationStatus(application.status),
        materials=codes,
        window_id=window_id,
        handed_in_at=now,
        requested_materials=application.requested_materials or [],
        deferred=application.deferred,
    )


async def _scans_of(
    session: AsyncSession, application: ApplicationRow
) -> dict[str, tuple[int, str]]:
    """The scans that belong to the application (its materials, the supplements handed in for
    it), with their size and type: any window taking a supplement for it may cite them again."""
    handed_in = await session.scalars(
        select(SupplementRow.materials).where(
            SupplementRow.application_no == application.application_no
        )
    )
    materials = [*application.materials, *(m for batch in handed_in for m in batch)]
    return {
        m["sha256"]: (m["size"], m["content_type"])
        for m in materials
        if m.get("sha256") and m.get("size") is not None and m.get("content_type")
    }


def _rights_at(intake: Intake, clerk: Principal, application: ApplicationRow) -> frozenset[Right]:
    """What this window may do for the application now, from the replica of the agreements.
    The locality that accepted it may always take what it asked for (its notice duty)."""
    rights = intake.rules.rights(
        clerk.locality, application.competent_locality, application.item_code, at=clock.now()
    )
    if clerk.locality == application.receiving_locality:
        return rights | {Right.NOTIFY}
    return rights
