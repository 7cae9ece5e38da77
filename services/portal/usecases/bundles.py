"""一件事一次办 online: the catalog's bundles as the applicant reads them, the combined form (the
shared fields once, each scan once), and its submission through intake's online bundle route,
which judges every member by its item's standard and answers one combined one-time notice or one
receipt with the children's numbers. The portal keeps no bundle: intake's answers are shown."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from services.portal.backend import Backend
from services.portal.residents import Resident
from services.portal.usecases.submission import Outcome, Scan, applicant_of, notice_of
from shared.errors import NotFound
from shared.i18n import _
from shared.reference.bundles import Bundle
from shared.reference.catalog import BUNDLES, CatalogItem, get_bundle, get_item


@dataclass(frozen=True)
class Waits:
    """A member waits for a sibling's certificate, which proves its material (免证办)."""

    item: CatalogItem
    material: str


@dataclass(frozen=True)
class MemberGuide:
    item: CatalogItem
    department: str
    required: bool
    waits_for: list[Waits]


@dataclass(frozen=True)
class Use:
    item_code: str
    material_code: str
    commitment_allowed: bool
    deferrable: bool


@dataclass(frozen=True)
class ScanSlot:
    """One scan of the combined form: a document (by its name) that several members may list;
    uploaded once, referenced by each of them."""

    slot: str
    name: str
    uses: list[Use]

    @property
    def commitment_allowed(self) -> bool:
        return any(use.commitment_allowed for use in self.uses)

    @property
    def deferrable(self) -> bool:
        return all(use.deferrable for use in self.uses)


@dataclass(frozen=True)
class BundleGuide:
    bundle: Bundle
    members: list[MemberGuide]
    scans: list[ScanSlot]
    # The delivery methods every member offers.
    delivery_methods: list[str]


def _item(item_code: str) -> CatalogItem:
    item = get_item(item_code)
    assert item is not None, item_code  # check_bundles: every member is an item of its version
    return item


def search(query: str) -> list[BundleGuide]:
    """The bundles whose name, lead department or a member's name contains the query."""
    wanted = query.strip()
    found = [guide(bundle.bundle_id) for bundle in BUNDLES]
    return [
        one
        for one in found
        if one is not None
        and (
            not wanted
            or wanted in one.bundle.name
            or wanted in one.bundle.lead_department
            or any(wanted in member.item.name for member in one.members)
        )
    ]


def guide(bundle_id: str) -> BundleGuide | None:
    bundle = get_bundle(bundle_id)
    if bundle is None:
        return None
    members = [
        MemberGuide(
            _item(member.item_code),
            member.department,
            member.required,
            [
                Waits(_item(d.needs), _material_name(d.item_code, d.material_code))
                for d in bundle.prerequisites(member.item_code)
            ],
        )
        for member in bundle.members
    ]
    # What a sibling's certificate will prove is not asked for (the member is held for it).
    withheld = {(d.item_code, d.material_code) for d in bundle.dependencies}
    slots: dict[str, list[Use]] = {}
    for member in members:
        for material in member.item.materials:
            if (member.item.item_code, material.material_code) in withheld:
                continue
            slots.setdefault(material.name, []).append(
                Use(
                    member.item.item_code,
                    material.material_code,
                    material.commitment_allowed,
                    material.deferrable,
                )
            )
    scans = [ScanSlot(f"s{n}", name, uses) for n, (name, uses) in enumerate(slots.items(), 1)]
    methods = [
        str(method)
        for method in members[0].item.delivery_methods
        if all(method in member.item.delivery_methods for member in members)
    ]
    return BundleGuide(bundle, members, scans, methods)


def _material_name(item_code: str, material_code: str) -> str:
    material = _item(item_code).material(material_code)
    return material.name if material is not None else material_code


def the_guide(bundle_id: str) -> BundleGuide:
    found = guide(bundle_id)
    if found is None:
        raise NotFound("unknown_bundle", _("No bundle {bundle_id}.", bundle_id=bundle_id))
    return found


@dataclass(frozen=True)
class OnlineBundle:
    """What the applicant filled in on the combined form."""

    guide: BundleGuide
    window_id: str
    # The optional members chosen, beside every required one.
    optional: set[str]
    shared_fields: dict[str, str]
    # {slot: its one scan}; a slot left empty is deferred (容缺) where every use allows it.
    scans: dict[str, Scan]
    # The slots whose commitment (告知承诺) the applicant signs.
    commitments: set[str]
    delivery_method: str
    address: dict[str, str] | None
    key: str

    @property
    def members(self) -> list[str]:
        """Every required member and the optional ones chosen, in the bundle's order."""
        return [
            m.item.item_code
            for m in self.guide.members
            if m.required or m.item.item_code in self.optional
        ]


async def submit(
    backend: Backend, resident: Resident, id_digest: str, form: OnlineBundle
) -> Outcome:
    """Each scan uploaded once for the chosen window, referenced by every chosen member that
    lists it; then the bundle handed to intake."""
    problems: list[dict[str, Any]] = []
    uploaded: dict[str, str] = {}
    for key, scan in form.scans.items():
        answer = await backend.upload(form.window_id, scan.filename, scan.content)
        if answer.status != 201:
            message = answer.body.get("error", {}).get("message", "")
            problems.append({"material_code": scan.material_code, "message": message})
            continue
        uploaded[key] = answer.body["sha256"]
    if problems:
        return Outcome(problems=problems)
    members: dict[str, dict[str, Any]] = {
        code: {"item_code": code, "materials": [], "commitments": []} for code in form.members
    }
    for slot in form.guide.scans:
        for use in slot.uses:
            member = members.get(use.item_code)
            if member is None:
                continue
            if slot.slot in uploaded:
                member["materials"].append(
                    {"material_code": use.material_code, "sha256": uploaded[slot.slot]}
                )
            elif slot.slot in form.commitments and use.commitment_allowed:
                member["commitments"].append(use.material_code)
    delivery: dict[str, Any] = {"method": form.delivery_method}
    if form.address is not None:
        delivery["address"] = form.address
    body = {
        "bundle_id": form.guide.bundle.bundle_id,
        "applicant": applicant_of(resident),
        "shared_fields": {name: value for name, value in form.shared_fields.items() if value},
        "members": list(members.values()),
        "delivery": delivery,
    }
    answer = await backend.submit_bundle(id_digest, form.window_id, body, form.key)
    if answer.status == 201:
        return Outcome(bundle_no=answer.body["bundle_no"])
    return notice_of(answer)


async def mine(backend: Backend, id_digest: str) -> list[dict[str, Any]]:
    answer = await backend.bundles(id_digest)
    listed = answer.body.get("bundles", [])
    return listed if isinstance(listed, list) else []


async def one(backend: Backend, id_digest: str, bundle_no: str) -> dict[str, Any]:
    """The applicant's own bundle as intake answers it; another's number answers 404."""
    answer = await backend.bundle(id_digest, bundle_no)
    if answer.status != 200:
        raise NotFound(
            "unknown_bundle_application",
            _("No bundle application {bundle_no}.", bundle_no=bundle_no),
        )
    return answer.body
