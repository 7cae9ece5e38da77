"""The published list of items that can be handled anywhere in the province (通办事项清单).

Each item is its standard guide (办事指南): materials, time limits in working days, fee, delivery
methods and the jurisdiction rule that routing uses to find the competent locality. The models
are the public item guide of API.md, so field names are part of the contract.

`handled_anywhere` marks the items on the province's own list (全省通办清单): the province-wide
default agreement lets every window in the province accept them. The others (on-site inspection,
investigation) are taken outside their competent locality only under a specific agreement.

Material flags:
- `required` and neither `deferrable` nor `commitment_allowed`: a key material; without it the
  application gets the one-time notice (一次性告知).
- `deferrable`: may be missing at intake and supplied later (容缺受理).
- `commitment_allowed`: a signed commitment may replace it (告知承诺制).
- `original_required`: the window must check the original (原件核验).
- `certificate_items`: 免证办: the items whose electronic certificates (电子证照) may be cited
  instead of handing it in. Intake checks a cited certificate against its replica of the
  province's certificate registry: of one of these items, valid, not revoked, the applicant's.

The items are data (data/catalog-<version>.json, the format of a published version), read and
validated by these models at import. Why the first batch (2025.1) says what it says:
- Jurisdiction: household items (公安, 民政, ...) are decided where the applicant's household is
  registered, 市场监管's by the enterprise's registration authority, 住房's property items where
  the property lies. 参保地 (医疗) and 公积金's 缴存地 are approximated by the household locality.
  Identity cards (GA-SFZ-001) are issued by the household's county-level public security organ.
- Not handled anywhere: GA-HJ-001, taken outside the household's city only under a specific
  agreement between the cities (as 马鞍山 grants 阜阳 in the demo); SJ-YP-001, SB-GS-001 and
  JT-CX-001, whose new premises, accident, or vehicle and load (where the trip starts) are
  inspected or investigated on site.
- 免证办: the household register page that a change of household registration items (GA-HJ-002)
  issues stands in for a copy of the register; a teacher's or a transport worker's earlier
  certificate stands in for the original one. National policy lets a personal commitment
  replace YL-YB-001's proof of residence.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationError,
    model_validator,
)

from shared.reference.bundles import Bundle, check_bundles
from shared.reference.localities import DEFAULT_PROVINCE, PROVINCE
from shared.vocabulary import CompetentLevel, DeliveryMethod, Jurisdiction

# The plan publishes the list once a year (每年集中公布一次). Its items are data:
# data/catalog-<version>.json, in the format of a published version. A correction is a new
# version (a published one never changes): a new file, and this name changed to match. 2025.1
# was the first batch; 2025.2 adds the bundles (一件事, shared.reference.bundles) and the items
# their members need. The older file stays: it is what a database that published it holds.
# Another province's built-in catalog (TONGBAN_PROVINCE, shared.reference.localities) is its
# own file, catalog-<province>-<version>.json: Jiangsu's (320000) holds only the items the
# federation's agreements name, under its own codes (contracts/federation.md §13).
BUILT_IN_VERSIONS: dict[str, str] = {DEFAULT_PROVINCE: "2025.2", "320000": "2026.1"}
CATALOG_VERSION: str = BUILT_IN_VERSIONS.get(PROVINCE, "")

ApplicantKind = Literal["person", "enterprise"]

# Exact in Python, a plain JSON number on the wire (clients read fees as numbers, not strings).
Yuan = Annotated[
    Decimal,
    Field(ge=0, max_digits=10, decimal_places=2),
    PlainSerializer(float, return_type=float, when_used="json"),
]


class Material(BaseModel):
    model_config = ConfigDict(frozen=True)

    material_code: str = Field(min_length=1)
    name: str = Field(min_length=1)
    required: bool
    deferrable: bool = Field(default=False, description="may be supplied after acceptance")
    commitment_allowed: bool = Field(default=False, description="a commitment may replace it")
    original_required: bool = Field(default=False, description="the window checks the original")
    certificate_items: list[str] = Field(
        default=[],
        description="免证办: the items whose certificates may be cited instead of handing it in "
        "(materials entry with `certificate_no`, no scan)",
    )


class CatalogItem(BaseModel):
    model_config = ConfigDict(frozen=True)

    item_code: str = Field(min_length=1)
    name: str = Field(min_length=1)
    domain: str
    department: str
    jurisdiction: Jurisdiction = Field(
        description="whose locality is competent: the applicant's household registration, the "
        "enterprise's registration, the property's location, or the province"
    )
    competent_level: CompetentLevel = Field(
        default=CompetentLevel.CITY,
        description="which level of that locality decides (ignored for province items)",
    )
    statutory_days: int = Field(ge=0, description="statutory time limit in working days")
    promised_days: int = Field(ge=0, description="promised time limit in working days")
    fee_yuan: Yuan
    delivery_methods: list[DeliveryMethod] = Field(min_length=1)
    materials: list[Material]
    applicant_kinds: list[ApplicantKind] = Field(min_length=1)
    # What the competent department's review checks (审查要点); shown in the guide.
    review_points: list[str] = Field(default_factory=list)
    legal_basis: str = Field(min_length=1, description="the laws and regulations it rests on")
    contact_phone: str = Field(pattern=r"^[0-9\-]{3,20}$", description="enquiries (咨询电话)")
    deferred_days: int = Field(
        default=5,
        ge=1,
        le=30,
        description="working days after acceptance to hand in deferred (容缺) materials",
    )
    handled_anywhere: bool = Field(
        default=True,
        description="listed by the province as handled anywhere (全省通办); the province-wide "
        "default agreement covers it",
    )

    @model_validator(mode="after")
    def _consistent(self) -> CatalogItem:
        if self.promised_days > self.statutory_days:
            raise ValueError("promised_days must not exceed statutory_days")
        codes = [material.material_code for material in self.materials]
        if len(codes) != len(set(codes)):
            raise ValueError("material codes must be unique within an item")
        if len(self.delivery_methods) != len(set(self.delivery_methods)):
            raise ValueError("delivery_methods must not repeat")
        if len(self.applicant_kinds) != len(set(self.applicant_kinds)):
            raise ValueError("applicant_kinds must not repeat")
        for material in self.materials:
            if len(material.certificate_items) != len(set(material.certificate_items)):
                raise ValueError(f"certificate_items of {material.material_code} must not repeat")
        return self

    def material(self, material_code: str) -> Material | None:
        """The item's material with this code, or None."""
        return next((m for m in self.materials if m.material_code == material_code), None)


class PublishedCatalog(BaseModel):
    """A version of the catalog as the province publishes it: `{"version", "items", "bundles"}`,
    the body of intake's `POST /v1/catalog/versions` (which also bounds the sizes it stores) and
    the format of the built-in version's data file. Its bundles name items of this version."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: str = Field(min_length=1)
    items: list[CatalogItem] = Field(min_length=1)
    bundles: list[Bundle] = Field(default=[], description="一件事: bundles of these items")

    @model_validator(mode="after")
    def _each_item_once(self) -> PublishedCatalog:
        codes = [item.item_code for item in self.items]
        repeated = sorted({code for code in codes if codes.count(code) > 1})
        if repeated:
            raise ValueError("each item_code may appear once; repeated: " + ", ".join(repeated))
        check_bundles(self.bundles, {item.item_code: item for item in self.items})
        return self


_DATA = Path(__file__).with_name("data")


def catalog_file(version: str, province: str = PROVINCE) -> Path:
    """Where the data file of a built-in catalog version lies (shipped with the package)."""
    if province == DEFAULT_PROVINCE:
        return _DATA / f"catalog-{version}.json"
    return _DATA / f"catalog-{province}-{version}.json"


def load_catalog(path: Path) -> PublishedCatalog:
    """A catalog version read from its data file (UTF-8 JSON) and validated by the models
    above. A file that is not one fails here, naming itself: at import, for the built-in one."""
    try:
        return PublishedCatalog.model_validate_json(path.read_bytes())
    except ValidationError as problem:
        raise ValueError(f"{path}: not a valid catalog version\n{problem}") from None


def _built_in() -> PublishedCatalog:
    if not CATALOG_VERSION:
        raise ValueError(f"no built-in catalog for the province {PROVINCE}")
    published = load_catalog(catalog_file(CATALOG_VERSION))
    if published.version != CATALOG_VERSION:
        raise ValueError(
            f"{catalog_file(CATALOG_VERSION)}: holds version {published.version!r}, "
            f"not {CATALOG_VERSION!r}"
        )
    return published


# Read once, when the module is first imported.
_PUBLISHED = _built_in()
CATALOG: tuple[CatalogItem, ...] = tuple(_PUBLISHED.items)
BUNDLES: tuple[Bundle, ...] = tuple(_PUBLISHED.bundles)

_BY_CODE: dict[str, CatalogItem] = {item.item_code: item for item in CATALOG}


def get_item(item_code: str) -> CatalogItem | None:
    """The catalog item with this code, or None."""
    return _BY_CODE.get(item_code)


def get_bundle(bundle_id: str) -> Bundle | None:
    """The built-in version's bundle (一件事) with this id, or None."""
    return next((bundle for bundle in BUNDLES if bundle.bundle_id == bundle_id), None)


def handled_anywhere_items() -> list[str]:
    """The codes of the items the province lists as handled anywhere (全省通办清单), sorted:
    what the province-wide default agreement covers."""
    return sorted(item.item_code for item in CATALOG if item.handled_anywhere)
