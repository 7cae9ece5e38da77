"""Is an application complete for its item (一次性告知, 容缺受理, 告知承诺制, 免证办), and what its
number is. Pure functions."""

from __future__ import annotations

import dataclasses
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from types import MappingProxyType
from typing import Any

from shared import clock
from shared.i18n import N_, current_locale, translate
from shared.identity import validate_id_number
from shared.reference.catalog import CatalogItem, Material
from shared.vocabulary import DeliveryMethod


@dataclass(frozen=True)
class Problem:
    """One problem of the one-time notice. `message` is its English source (marked for the
    catalog) with {placeholders} filled from `params`, translated when shown; None params: a
    text shown as written (another module's, already in the reader's language)."""

    code: str
    message: str
    material_code: str | None = None
    field: str | None = None
    # (Spelt out: `field` is this class's own attribute.)
    params: Mapping[str, Any] | None = dataclasses.field(default_factory=dict)
    # 一件事: the member of a bundle application it is a problem of (a combined notice).
    item_code: str | None = None

    def as_dict(self) -> dict[str, str]:
        """As the reader of the moment reads it (shared.i18n's current locale)."""
        return {**self._where(), "code": self.code, "message": self.text(current_locale())}

    def stored(self) -> dict[str, Any]:
        """As a notice keeps it: the source and its parameters, translated when read again."""
        params = None if self.params is None else dict(self.params)
        return {**self._where(), "code": self.code, "message": self.message, "params": params}

    def text(self, locale: str) -> str:
        return shown_in(locale, self.message, self.params)

    def _where(self) -> dict[str, str]:
        member = {"item_code": self.item_code} if self.item_code else {}
        if self.material_code:
            return {**member, "material_code": self.material_code}
        return {**member, "field": self.field or ""}


def shown_in(locale: str, message: str, params: Mapping[str, Any] | None) -> str:
    """A stored problem's message in `locale` (None params: as written)."""
    return message if params is None else translate(message, locale, params)


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
                N_("This item is for {applicant_kinds}."),
                field="applicant.kind",
                params={"applicant_kinds": ", ".join(item.applicant_kinds)},
            )
        )
    id_problem = validate_id_number(submission.id_type, submission.id_number)  # type: ignore[arg-type]
    if id_problem:
        problems.append(
            Problem("invalid_id_number", id_problem, field="applicant.id_number", params=None)
        )
    expected_id_type = "uscc" if submission.applicant_kind == "enterprise" else "resident_id"
    if submission.id_type != expected_id_type:
        problems.append(
            Problem(
                "id_type_mismatch",
                N_("A {applicant_kind} applies with {id_type}."),
                field="applicant.id_type",
                params={"applicant_kind": submission.applicant_kind, "id_type": expected_id_type},
            )
        )
    if item.jurisdiction == "property" and not submission.property_locality:
        problems.append(
            Problem(
                "property_locality_required",
                N_("This item is decided where the property lies."),
                field="property_locality",
            )
        )
    if submission.delivery_method not in item.delivery_methods:
        problems.append(
            Problem(
                "delivery_method_not_offered",
                N_("This item is delivered by {delivery_methods}."),
                field="delivery.method",
                params={"delivery_methods": ", ".join(item.delivery_methods)},
            )
        )
    if submission.delivery_method == DeliveryMethod.POSTAL and not submission.has_postal_address:
        problems.append(
            Problem(
                "postal_address_required",
                N_("Postal delivery needs an address."),
                field="delivery.address",
            )
        )

    known = {material.material_code: material for material in item.materials}
    submitted = {material.material_code: material for material in submission.materials}
    cited = {citation.material_code: citation for citation in submission.citations}
    for code in [*submitted, *cited, *submission.commitments]:
        if code not in known:
            problems.append(
                Problem("unknown_material", N_("Not a material of this item."), material_code=code)
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
                        N_("The original of {material} must be checked at the window."),
                        material_code=material.material_code,
                        params={"material": material.name},
                    )
                )
            elif handed_in.original_verified and not may_verify_originals:
                problems.append(
                    Problem(
                        "no_verify_original_right",
                        N_("This window may not verify originals for this item."),
                        material_code=material.material_code,
                    )
                )
            continue
        if material.material_code in submission.commitments:
            if not material.commitment_allowed:
                problems.append(
                    Problem(
                        "commitment_not_allowed",
                        N_("{material} cannot be replaced by a commitment."),
                        material_code=material.material_code,
                        params={"material": material.name},
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
                N_("{material} is required."),
                material_code=material.material_code,
                params={"material": material.name},
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
                N_("{material} cannot be proven by citing a certificate."),
                material_code=code,
                params={"material": material.name},
            )
        ]
    if found is None:
        return [
            Problem(
                "certificate_not_found",
                N_(
                    "No certificate {certificate_no} is in the province's registry (one issued "
                    "moments ago may take a moment to arrive)."
                ),
                material_code=code,
                params={"certificate_no": certificate_no},
            )
        ]
    if not applicant_id_digest or not hmac.compare_digest(
        found.holder_id_digest, applicant_id_digest
    ):
        return [
            Problem(
                "certificate_not_applicants",
                N_("Certificate {certificate_no} is not the applicant's."),
                material_code=code,
                params={"certificate_no": certificate_no},
            )
        ]
    problems: list[Problem] = []
    if found.item_code not in material.certificate_items:
        problems.append(
            Problem(
                "certificate_not_allowed",
                N_(
                    "{material} is proven by certificates of {certificate_items}, not of "
                    "{item_code}."
                ),
                material_code=code,
                params={
                    "material": material.name,
                    "certificate_items": ", ".join(material.certificate_items),
                    "item_code": found.item_code,
                },
            )
        )
    if not found.issuer_may_be_competent:
        problems.append(
            Problem(
                "certificate_issuer_not_competent",
                N_(
                    "Certificate {certificate_no} was issued by {issuer_locality}, which is not "
                    "competent for {item_code}."
                ),
                material_code=code,
                params={
                    "certificate_no": certificate_no,
                    "issuer_locality": found.issuer_locality,
                    "item_code": found.item_code,
                },
            )
        )
    if found.revoked:
        problems.append(
            Problem(
                "certificate_revoked",
                N_("Certificate {certificate_no} was revoked."),
                material_code=code,
                params={"certificate_no": certificate_no},
            )
        )
    elif found.valid_until is not None and found.valid_until < today:
        problems.append(
            Problem(
                "certificate_expired",
                N_("Certificate {certificate_no} expired on {valid_until}."),
                material_code=code,
                params={"certificate_no": certificate_no, "valid_until": str(found.valid_until)},
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
                Problem("not_expected", N_("Neither requested nor deferred."), material_code=code)
            )
        elif code in original_required and not material.original_verified:
            problems.append(
                Problem(
                    "original_not_verified",
                    N_("The original must be checked at the window."),
                    material_code=code,
                )
            )
        elif material.original_verified and not may_verify_originals:
            problems.append(
                Problem(
                    "no_verify_original_right",
                    N_("This window may not verify originals for this item."),
                    material_code=code,
                )
            )
    problems += [
        Problem("material_missing", N_("Requested by the competent locality."), material_code=code)
        for code in requested
        if code not in codes
    ]
    return problems


def application_number(receiving_locality: str, day: date, sequence: int) -> str:
    """TB + receiving locality + date + sequence: readable at the window, unique province-wide."""
    return f"TB{receiving_locality}{day:%Y%m%d}{sequence:06d}"
