"""Is an application complete for its item (一次性告知, 容缺受理, 告知承诺制, 免证办), and what its
number is. Pure functions."""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from types import MappingProxyType

from shared import clock
from shared.identity import validate_id_number
from shared.reference.catalog import CatalogItem, Material
from shared.vocabulary import DeliveryMethod


@dataclass(frozen=True)
class Problem:
    code: str
    message: str
    material_code: str | None = None
    field: str | None = None

    def as_dict(self) -> dict[str, str]:
        where = (
            {"material_code": self.material_code}
            if self.material_code
            else {"field": self.field or ""}
        )
        return {**where, "code": self.code, "message": self.message}


@dataclass(frozen=True)
class SubmittedMaterial:
    material_code: str
    original_verified: bool


@dataclass(frozen=True)
class CitedMaterial:
    """免证办: a material proven by citing a certificate instead of a scan."""

    material_code: str
    certificate_no: str


@dataclass(frozen=True)
class RegisteredCertificate:
    """A certificate as intake's replica of the registry knows it."""

    certificate_no: str
    issuer_locality: str
    item_code: str
    holder_id_digest: str
    valid_until: date | None  # None: valid without limit
    revoked: bool
    # Whether the issuer is a locality that may be competent for the certificate's item (its
    # jurisdiction rule's level): another's seal proves nothing about that item.
    issuer_may_be_competent: bool = True


@dataclass(frozen=True)
class Submission:
    applicant_kind: str
    id_type: str
    id_number: str
    applicant_locality: str
    materials: list[SubmittedMaterial]
    commitments: list[str]
    delivery_method: str
    has_postal_address: bool
    property_locality: str | None = None
    citations: list[CitedMaterial] = field(default_factory=list)
    # Keyed digest of the applicant's ID number (shared.identity.id_number_digest), compared
    # with a cited certificate's holder.
    applicant_id_digest: str = ""


_NONE_REGISTERED: Mapping[str, RegisteredCertificate] = MappingProxyType({})


@dataclass
class Assessment:
    problems: list[Problem] = field(default_factory=list)
    deferred: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not self.problems


def assess(
    item: CatalogItem,
    submission: Submission,
    *,
    may_verify_originals: bool,
    registry: Mapping[str, RegisteredCertificate] = _NONE_REGISTERED,
    today: date | None = None,
) -> Assessment:
    """Check a submission against the item's standard and list EVERY problem at once.
    `registry` holds the cited certificates intake's replica knows (absent: not found)."""
    today = today or clock.today()
    result = Assessment()
    problems = result.problems

    if submission.applicant_kind not in item.applicant_kinds:
        problems.append(
            Problem(
                "applicant_kind_not_allowed",
                f"This item is for {', '.join(item.applicant_kinds)}.",
                field="applicant.kind",
            )
        )
    id_problem = validate_id_number(submission.id_type, submission.id_number)  # type: ignore[arg-type]
    if id_problem:
        problems.append(Problem("invalid_id_number", id_problem, field="applicant.id_number"))
    expected_id_type = "uscc" if submission.applicant_kind == "enterprise" else "resident_id"
    if submission.id_type != expected_id_type:
        problems.append(
            Problem(
                "id_type_mismatch",
                f"A {submission.applicant_kind} applies with {expected_id_type}.",
                field="applicant.id_type",
            )
        )
    if item.jurisdiction == "property" and not submission.property_locality:
        problems.append(
            Problem(
                "property_locality_required",
                "This item is decided where the property lies.",
                field="property_locality",
            )
        )
    if submission.delivery_method not in item.delivery_methods:
        problems.append(
            Problem(
                "delivery_method_not_offered",
                f"This item is delivered by {', '.join(item.delivery_methods)}.",
                field="delivery.method",
            )
        )
    if submission.delivery_method == DeliveryMethod.POSTAL and not submission.has_postal_address:
        problems.append(
            Problem(
                "postal_address_required",
                "Postal delivery needs an address.",
                field="delivery.address",
            )
        )

    known = {material.material_code: material for material in item.materials}
    submitted = {material.material_code: material for material in submission.materials}
    cited = {citation.material_code: citation for citation in submission.citations}
    for code in [*submitted, *cited, *submission.commitments]:
        if code not in known:
            problems.append(
                Problem("unknown_material", "Not a material of this item.", material_code=code)
            )

    for material in item.materials:
        citation = cited.get(material.material_code)
        if citation is not None:
            # The electronic certificate is the original (电子证照): no scan and no check of a
            # paper original, only of the certificate itself.
            problems += assess_citation(
                material,
                citation.certificate_no,
                registry.get(citation.certificate_no),
                applicant_id_digest=submission.applicant_id_digest,
                today=today,
            )
            continue
        handed_in = submitted.get(material.material_code)
        if handed_in is not None:
            if material.original_required and not handed_in.original_verified:
                problems.append(
                    Problem(
                        "original_not_verified",
                        f"The original of {material.name} must be checked at the window.",
                        material_code=material.material_code,
                    )
                )
            elif handed_in.original_verified and not may_verify_originals:
                problems.append(
                    Problem(
                        "no_verify_original_right",
                        "This window may not verify originals for this item.",
                        material_code=material.material_code,
                    )
                )
            continue
        if material.material_code in submission.commitments:
            if not material.commitment_allowed:
                problems.append(
                    Problem(
                        "commitment_not_allowed",
                        f"{material.name} cannot be replaced by a commitment.",
                        material_code=material.material_code,
                    )
                )
            continue
        if not material.required:
            continue
        if material.deferrable:
            result.deferred.append(material.material_code)
            continue
        problems.append(
            Problem(
                "material_missing",
                f"{material.name} is required.",
                material_code=material.material_code,
            )
        )
    return result


def assess_citation(
    material: Material,
    certificate_no: str,
    found: RegisteredCertificate | None,
    *,
    applicant_id_digest: str,
    today: date,
) -> list[Problem]:
    """免证办: may this certificate stand in for `material`? Every problem of it at once, except
    that another person's certificate is only said to be another's: nothing more of it (its
    item, revocation or validity) is told at this window."""
    code = material.material_code
    if not material.certificate_items:
        return [
            Problem(
                "certificate_not_allowed",
                f"{material.name} cannot be proven by citing a certificate.",
                material_code=code,
            )
        ]
    if found is None:
        return [
            Problem(
                "certificate_not_found",
                f"No certificate {certificate_no} is in the province's registry (one issued "
                "moments ago may take a moment to arrive).",
                material_code=code,
            )
        ]
    if not applicant_id_digest or not hmac.compare_digest(
        found.holder_id_digest, applicant_id_digest
    ):
        return [
            Problem(
                "certificate_not_applicants",
                f"Certificate {certificate_no} is not the applicant's.",
                material_code=code,
            )
        ]
    problems: list[Problem] = []
    if found.item_code not in material.certificate_items:
        problems.append(
            Problem(
                "certificate_not_allowed",
                f"{material.name} is proven by certificates of "
                f"{', '.join(material.certificate_items)}, not of {found.item_code}.",
                material_code=code,
            )
        )
    if not found.issuer_may_be_competent:
        problems.append(
            Problem(
                "certificate_issuer_not_competent",
                f"Certificate {certificate_no} was issued by {found.issuer_locality}, which is "
                f"not competent for {found.item_code}.",
                material_code=code,
            )
        )
    if found.revoked:
        problems.append(
            Problem(
                "certificate_revoked",
                f"Certificate {certificate_no} was revoked.",
                material_code=code,
            )
        )
    elif found.valid_until is not None and found.valid_until < today:
        problems.append(
            Problem(
                "certificate_expired",
                f"Certificate {certificate_no} expired on {found.valid_until}.",
                material_code=code,
            )
        )
    return problems


def assess_supplement(
    *,
    expected: list[str],
    requested: list[str],
    handed_in: list[SubmittedMaterial],
    original_required: set[str],
    may_verify_originals: bool,
) -> list[Problem]:
    """Check a supplement: only materials that were requested (补正) or deferred (容缺), every
    requested one at once (the clock restarts once, not per piece), originals checked where the
    item needs it and the window may. Deferred ones may come one by one."""
    problems: list[Problem] = []
    codes = {m.material_code for m in handed_in}
    for material in handed_in:
        code = material.material_code
        if code not in expected:
            problems.append(
                Problem("not_expected", "Neither requested nor deferred.", material_code=code)
            )
        elif code in original_required and not material.original_verified:
            problems.append(
                Problem(
                    "original_not_verified",
                    "The original must be checked at the window.",
                    material_code=code,
                )
            )
        elif material.original_verified and not may_verify_originals:
            problems.append(
                Problem(
                    "no_verify_original_right",
                    "This window may not verify originals for this item.",
                    material_code=code,
                )
            )
    problems += [
        Problem("material_missing", "Requested by the competent locality.", material_code=code)
        for code in requested
        if code not in codes
    ]
    return problems


def application_number(receiving_locality: str, day: date, sequence: int) -> str:
    """TB + receiving locality + date + sequence: readable at the window, unique province-wide."""
    return f"TB{receiving_locality}{day:%Y%m%d}{sequence:06d}"
