"""Judging an application from memory: the catalog's current version, the replica of routing's
rules and agreements, and the scans and certificates it cites. Raises what refuses it outright;
returns the one-time notice or the acceptance."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from services.intake import domain
from services.intake.schemas import ApplicationIn
from services.intake.usecases.catalog import Catalog
from services.intake.usecases.scans import unknown_scans
from shared import clock
from shared.auth import Principal
from shared.errors import Forbidden, Invalid, Unavailable
from shared.i18n import N_, _
from shared.identity import id_number_digest, validate_id_number
from shared.jurisdiction import JurisdictionError, Resolution, RuleBook
from shared.messaging import events
from shared.reference.catalog import CatalogItem
from shared.vocabulary import DeliveryMethod, Right

# Fields of routing's resolve request, as the fields of the application they come from.
_APPLICATION_FIELDS = {
    "applicant_locality": "applicant.locality",
    "property_locality": "property_locality",
}


@dataclass(frozen=True)
class SubmitApplication:
    """Command: a window clerk hands in an application."""

    # The validated request body, passed as it is: converting it would only copy its fields.
    body: ApplicationIn
    clerk: Principal
    idempotency_key: str
    # Online: handed in through the applicants' portal, for the window `clerk` names.
    channel: events.ApplicationChannel = "window"


@dataclass(frozen=True)
class Answer:
    """The HTTP answer to a submission, kept with its Idempotency-Key and replayed on retry."""

    status_code: int
    body: dict[str, Any]


@dataclass(frozen=True)
class Accept:
    item: CatalogItem
    resolution: Resolution
    deferred: list[str]
    scans: Mapping[str, tuple[int, str]]
    catalog_version: str  # the version the item was taken from
    # 免证办: the certificates cited instead of materials, as checked.
    certificates: list[events.CitedCertificate]


@dataclass(frozen=True)
class Notify:
    item: CatalogItem
    problems: list[domain.Problem]


def _reference_problems(
    body: ApplicationIn, scans: Mapping[str, tuple[int, str]]
) -> list[domain.Problem]:
    """Scans referenced but never uploaded, and an agent's bad ID: one-time notice problems."""
    problems = unknown_scans(body.materials, scans)
    agent = body.agent
    if agent is not None:
        if agent.authorization_sha256 not in scans:
            problems.append(
                domain.Problem(
                    "scan_not_uploaded",
                    N_("The letter of authorization's scan was never uploaded at this window."),
                    field="agent.authorization_sha256",
                )
            )
        id_problem = validate_id_number(agent.id_type, agent.id_number)
        if id_problem:
            problems.append(
                domain.Problem(
                    "invalid_id_number", id_problem, field="agent.id_number", params=None
                )
            )
    return problems


def judge(
    command: SubmitApplication,
    catalog: Catalog,
    rules: RuleBook,
    digest_key: bytes,
    scans: Mapping[str, tuple[int, str]],
    registry: Mapping[str, domain.RegisteredCertificate] | None = None,
) -> Accept | Notify:
    """Check the application against its item's standard and this window's rights, from
    memory (and `registry`: the cited certificates the replica knows). Raises what refuses it
    outright; returns the one-time notice or the acceptance."""
    clerk, body = command.clerk, command.body
    registry = registry or {}
    today = clock.today()
    current = catalog.current  # one version throughout, whatever is published meanwhile
    item = current.items.get(body.item_code)
    if item is None:
        raise Invalid.of_field(
            "unknown_item", _("No catalog item {item_code}.", item_code=body.item_code), "item_code"
        )
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
            id_number_digest(body.applicant.id_number, digest_key)
            if any(m.certificate_no is not None for m in body.materials)
            else ""
        ),
    )
    try:
        resolution = rules.resolve(
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
            assessment.problems.append(
                domain.Problem(problem.code, str(problem), field=field, params=None)
            )
        return Notify(item, [*assessment.problems, *_reference_problems(body, scans)])
    if resolution is None:
        raise Unavailable(
            "routing_rules_unavailable",
            _(
                "Routing has not published the jurisdiction rule of {item_code} yet; "
                "try again shortly.",
                item_code=item.item_code,
            ),
        )
    rights = resolution.receiving_rights
    if Right.ACCEPT not in rights:
        raise Forbidden(
            "no_accept_right",
            _(
                "No trust agreement lets windows of {locality} accept {item_code} for "
                "{competent_locality}.",
                locality=clerk.locality,
                item_code=item.item_code,
                competent_locality=resolution.competent_locality,
            ),
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
                N_(
                    "This window may not hand over the result of this item; choose postal delivery."
                ),
                field="delivery.method",
            )
        )
    assessment.problems.extend(_reference_problems(body, scans))
    if not assessment.complete:
        return Notify(item, assessment.problems)
    certificates = [
        events.CitedCertificate(
            material_code=citation.material_code,
            certificate_no=citation.certificate_no,
            issuer_locality=registry[citation.certificate_no].issuer_locality,
            item_code=registry[citation.certificate_no].item_code,
        )
        for citation in submission.citations
    ]
    return Accept(item, resolution, assessment.deferred, scans, current.version, certificates)
