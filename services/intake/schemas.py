"""Intake's request and response bodies: the public contract of API.md."""

from __future__ import annotations

from collections import Counter
from datetime import date
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from shared.bounds import MAX_CODE, MAX_MATERIALS, Code, Line, Reason, Sha256
from shared.clock import ChinaTime
from shared.i18n import _
from shared.messaging.events import (
    MAX_CATALOG_ITEMS,
    Agent,
    Applicant,
    CatalogVersionName,
    CitedCertificate,
    PostalAddress,
)
from shared.reference.bundles import Bundle, check_bundles
from shared.reference.catalog import CatalogItem
from shared.reference.localities import LocalityCode
from shared.vocabulary import ApplicationStatus, DeliveryMethod


class ApplicantIn(Applicant):
    model_config = ConfigDict(extra="forbid")

    phone: str = Field(pattern=r"^\+?[0-9\- ]{5,20}$")


class AgentIn(Agent):
    """帮办代办 / 委托代办: who hands in for the applicant; `authorization_sha256` is the uploaded
    scan of the letter of authorization."""

    model_config = ConfigDict(extra="forbid")

    phone: str = Field(pattern=r"^\+?[0-9\- ]{5,20}$")


class MaterialIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    material_code: Code
    sha256: Sha256
    original_verified: bool = False


class ApplicationMaterialIn(BaseModel):
    """One material of an application: the uploaded scan (`sha256`), or, where the item's guide
    lists `certificate_items` for it (免证办), the number of the applicant's certificate that
    proves it (`certificate_no`, no scan). Exactly one of the two."""

    model_config = ConfigDict(extra="forbid")

    material_code: Code
    sha256: Sha256 | None = None
    certificate_no: Code | None = Field(
        default=None, description="免证办: a certificate of the province's registry cited instead"
    )
    original_verified: bool = False

    @model_validator(mode="after")
    def _scan_or_certificate(self) -> ApplicationMaterialIn:
        if self.sha256 is None and self.certificate_no is None:
            raise ValueError(
                _(
                    "material {material_code}: give sha256 (the uploaded scan) or "
                    "certificate_no (a cited certificate)",
                    material_code=self.material_code,
                )
            )
        if self.sha256 is not None and self.certificate_no is not None:
            raise ValueError(
                _(
                    "material {material_code}: give sha256 or certificate_no, not both",
                    material_code=self.material_code,
                )
            )
        return self


class PostalAddressIn(PostalAddress):
    model_config = ConfigDict(extra="forbid")

    phone: str = Field(pattern=r"^\+?[0-9\- ]{5,20}$")


class DeliveryIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    method: DeliveryMethod
    address: PostalAddressIn | None = None


def _repeated(codes: list[str]) -> list[str]:
    return sorted(code for code, times in Counter(codes).items() if times > 1)


class ApplicationIn(BaseModel):
    """`POST /v1/applications` (API.md). Every list and string is bounded (shared.bounds)."""

    model_config = ConfigDict(extra="forbid")

    item_code: Code
    applicant: ApplicantIn
    property_locality: LocalityCode | None = None
    materials: list[ApplicationMaterialIn] = Field(default=[], max_length=MAX_MATERIALS)
    commitments: list[Code] = Field(default=[], max_length=MAX_MATERIALS)
    delivery: DeliveryIn
    agent: AgentIn | None = None

    @model_validator(mode="after")
    def _each_material_once(self) -> ApplicationIn:
        # A code twice is a mistake at the window, never a meaning: say which, at once.
        handed_in = [m.material_code for m in self.materials]
        repeated = {
            "materials": _repeated(handed_in),
            "commitments": _repeated(self.commitments),
            "commitments and materials": sorted(set(handed_in) & set(self.commitments)),
        }
        problems = [f"{where}: {', '.join(codes)}" for where, codes in repeated.items() if codes]
        if problems:
            raise ValueError(
                _(
                    "each material_code may appear once; repeated in {repeated}",
                    repeated="; ".join(problems),
                )
            )
        return self


class SupplementIn(BaseModel):
    """`POST /v1/applications/{no}/supplements`: requested (补正) or deferred (容缺) materials."""

    model_config = ConfigDict(extra="forbid")

    materials: list[MaterialIn] = Field(min_length=1, max_length=MAX_MATERIALS)

    @model_validator(mode="after")
    def _each_material_once(self) -> SupplementIn:
        repeated = _repeated([m.material_code for m in self.materials])
        if repeated:
            raise ValueError(
                _(
                    "each material_code may appear once; repeated: {repeated}",
                    repeated=", ".join(repeated),
                )
            )
        return self


class SupplementOut(BaseModel):
    application_no: str
    status: ApplicationStatus
    materials: list[str]
    window_id: str
    handed_in_at: ChinaTime
    # What is still outstanding after this supplement.
    requested_materials: list[str]
    deferred: list[str]


class ScanOut(BaseModel):
    sha256: str
    size: int
    content_type: str


class ApplicationAcceptedOut(BaseModel):
    application_no: str
    status: ApplicationStatus
    item_code: str
    receiving_locality: str
    window_id: str
    competent_locality: str
    department: str
    promised_date: date
    accepted_at: ChinaTime
    deferred: list[str]
    deferred_due_on: date | None = None
    catalog_version: str | None = None


class TimelineEntryOut(BaseModel):
    at: ChinaTime
    # `in_transit` (邮政寄递: the carrier picked the parcel up or carries it) is a step of the
    # timeline only; the application itself stays `dispatched` until it is delivered.
    status: ApplicationStatus | Literal["in_transit"]
    locality: str
    note: str


class ApplicationOut(BaseModel):
    application_no: str
    status: ApplicationStatus
    item_code: str
    competent_locality: str
    receiving_locality: str
    window_id: str
    promised_date: date
    deferred: list[str]
    deferred_due_on: date | None
    requested_materials: list[str]
    agent_name_masked: str | None
    catalog_version: str | None
    # 免证办: the materials proven by a cited certificate instead of a scan.
    certificates: list[CitedCertificate] = []
    timeline: list[TimelineEntryOut]
    # The trace of its acceptance (W3C trace id); null for applications accepted before.
    trace_id: str | None = None
    bundle_no: str | None = Field(
        default=None, description="一件事: the bundle application it is a child of"
    )


# --- ratings (好差评) ---------------------------------------------------------------------------


class EvaluationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    score: int = Field(ge=1, le=5)
    comment: Reason = ""


class EvaluationOut(BaseModel):
    application_no: str
    score: int
    comment: str
    evaluated_at: ChinaTime


# --- catalog versions (POST /v1/catalog/versions) ---------------------------------------------

# Item codes go into URLs, agreements and other services' columns: letters, digits and . _ -,
# never "*" (which an agreement reads as "every item").
ItemCode = Annotated[
    str, Field(min_length=1, max_length=MAX_CODE, pattern=r"^[0-9A-Za-z][0-9A-Za-z._\-]*$")
]
# Routing and the applications keep an item's department in 128 characters.
MAX_DEPARTMENT = 128
MAX_BUNDLES = 200
_CODE: TypeAdapter[str] = TypeAdapter(Code)
_ITEM_CODE: TypeAdapter[str] = TypeAdapter(ItemCode)


class PublishedItem(CatalogItem):
    """An item's guide as an admin publishes it: the shape of the catalog's `CatalogItem`, with
    the sizes the rest of the system stores and carries (the events bound what they carry)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    item_code: ItemCode
    name: Line = Field(min_length=1)
    domain: Code
    department: Line = Field(min_length=1)

    @model_validator(mode="after")
    def _fits(self) -> PublishedItem:
        if len(self.department) > MAX_DEPARTMENT:
            raise ValueError(_("a department has at most {limit} characters", limit=MAX_DEPARTMENT))
        # Applications name materials by code (shared.bounds.Code).
        if len(self.materials) > MAX_MATERIALS:
            raise ValueError(_("an item has at most {limit} materials", limit=MAX_MATERIALS))
        for material in self.materials:
            try:
                _CODE.validate_python(material.material_code)
            except ValidationError as problem:
                message = problem.errors()[0]["msg"]
                raise ValueError(f"material_code {material.material_code!r}: {message}") from None
            # 免证办: item codes, as certificates name the item that issued them.
            if len(material.certificate_items) > MAX_CATALOG_ITEMS:
                raise ValueError(
                    _(
                        "certificate_items of {material_code} lists at most {limit} items",
                        material_code=material.material_code,
                        limit=MAX_CATALOG_ITEMS,
                    )
                )
            for item_code in material.certificate_items:
                try:
                    _ITEM_CODE.validate_python(item_code)
                except ValidationError as problem:
                    message = problem.errors()[0]["msg"]
                    raise ValueError(
                        f"certificate_items of {material.material_code}: {item_code!r}: {message}"
                    ) from None
        return self


class CatalogVersionIn(BaseModel):
    """`POST /v1/catalog/versions`: the whole catalog of a new version, which becomes current."""

    model_config = ConfigDict(extra="forbid")

    version: CatalogVersionName
    items: list[PublishedItem] = Field(min_length=1, max_length=MAX_CATALOG_ITEMS)
    bundles: list[Bundle] = Field(
        default=[], max_length=MAX_BUNDLES, description="一件事: bundles of this version's items"
    )

    @model_validator(mode="after")
    def _each_item_once(self) -> CatalogVersionIn:
        repeated = _repeated([item.item_code for item in self.items])
        if repeated:
            raise ValueError(
                _(
                    "each item_code may appear once; repeated: {repeated}",
                    repeated=", ".join(repeated),
                )
            )
        # A bundle names items of its own version: an unknown member, a cycle of dependencies
        # or a lead department handling none of its members is refused here (its message names
        # the bundle and the fault, for the province's administrator).
        check_bundles(self.bundles, {item.item_code: item for item in self.items})
        return self


class CatalogVersionOut(BaseModel):
    version: str
    published_at: ChinaTime
    items: int = Field(description="how many items the version lists")
    bundles: int = Field(default=0, description="how many bundles (一件事) it lists")


class BundlesOut(BaseModel):
    version: str
    bundles: list[Bundle]


class CatalogVersionListed(CatalogVersionOut):
    published_by: str


class CatalogVersionsOut(BaseModel):
    current: str
    versions: list[CatalogVersionListed] = Field(description="newest first")
