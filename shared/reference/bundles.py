"""一件事一次办: bundles of catalog items that belong to one life or business event.

A bundle is data published with a catalog version (`bundles` of data/catalog-<version>.json,
beside its `items`), so it is versioned exactly like the items it names: an application keeps
the version it was accepted under, and a bundle of an older version keeps its members when a
newer version changes them.

A bundle names:
- its lead department (牵头部门), which answers for the whole bundle; the State Council's 2025
  guidance gives every 一件事 one, among the departments that handle its members (the others
  are co-departments, 配合部门);
- its members: catalog items with their departments, each required or optional;
- its aggregation rule: `all_required`, the bundle succeeds when every required member is
  approved; an optional member may be rejected without ending it;
- its dependencies: a step that needs another step's certificate, and the material of the step
  that certificate serves. This is 免证办: the material must list the prerequisite item in its
  `certificate_items`, so the certificate is cited through the mechanism intake already checks
  (no upload), and the dependent child is held until the certificate exists;
- the shared fields of the combined form, filled once for every member.

`check_bundles` refuses a bundle that names an unknown item, a department not the item's, a lead
department that handles none of its members, a dependency on a non-member, a material that does
not accept the prerequisite's certificate, a cycle of dependencies, or a required member waiting
on an optional one (whose rejection would leave it held for ever). The models stand alone (no
import of the catalog) so that the catalog's model can hold them.
"""

from __future__ import annotations

import graphlib
from collections.abc import Mapping, Sequence
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, model_validator

ApplicantKind = Literal["person", "enterprise"]
# The only rule so far; a field of its own so that "any rejection stops the rest" or "N of M"
# can be published later without changing the format.
Aggregation = Literal["all_required"]

MAX_BUNDLE_MEMBERS = 20
MAX_SHARED_FIELDS = 30


class BundleMember(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    item_code: str = Field(min_length=1, max_length=32)
    department: str = Field(min_length=1, description="the item's department, as it lists it")
    required: bool = Field(description="its rejection ends the bundle (all_required)")


class BundleDependency(BaseModel):
    """`item_code` waits for a certificate of `needs`, cited for its material `material_code`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    item_code: str = Field(min_length=1, max_length=32)
    needs: str = Field(min_length=1, max_length=32)
    material_code: str = Field(min_length=1, max_length=32)


class SharedField(BaseModel):
    """A field of the combined form, filled once (出生日期, 企业名称, 不动产单元号 ...)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    field: str = Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")
    label: str = Field(min_length=1, max_length=64)
    required: bool = True


class Bundle(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    bundle_id: str = Field(pattern=r"^YJS-[A-Z0-9-]{2,28}$")
    name: str = Field(min_length=1, max_length=64)
    lead_department: str = Field(min_length=1, description="牵头部门")
    applicant_kind: ApplicantKind
    aggregation: Aggregation = "all_required"
    members: list[BundleMember] = Field(min_length=2, max_length=MAX_BUNDLE_MEMBERS)
    dependencies: list[BundleDependency] = Field(default=[])
    shared_fields: list[SharedField] = Field(default=[], max_length=MAX_SHARED_FIELDS)

    @model_validator(mode="after")
    def _consistent(self) -> Bundle:
        codes = [member.item_code for member in self.members]
        if len(codes) != len(set(codes)):
            raise ValueError(f"{self.bundle_id}: a member may appear once")
        fields = [shared.field for shared in self.shared_fields]
        if len(fields) != len(set(fields)):
            raise ValueError(f"{self.bundle_id}: a shared field may appear once")
        if not any(member.required for member in self.members):
            raise ValueError(f"{self.bundle_id}: at least one member must be required")
        if self.lead_department not in {member.department for member in self.members}:
            raise ValueError(
                f"{self.bundle_id}: lead department {self.lead_department} handles none of "
                "its members"
            )
        by_code = {member.item_code: member for member in self.members}
        for dependency in self.dependencies:
            for code in (dependency.item_code, dependency.needs):
                if code not in by_code:
                    raise ValueError(f"{self.bundle_id}: dependency on {code}, not a member")
            if by_code[dependency.item_code].required and not by_code[dependency.needs].required:
                raise ValueError(
                    f"{self.bundle_id}: required {dependency.item_code} cannot wait for "
                    f"optional {dependency.needs}"
                )
        self.order()  # refuses a cycle
        return self

    def member(self, item_code: str) -> BundleMember | None:
        return next((m for m in self.members if m.item_code == item_code), None)

    def prerequisites(self, item_code: str) -> list[BundleDependency]:
        """What this member waits for: the dependencies it is the dependent step of."""
        return [d for d in self.dependencies if d.item_code == item_code]

    def order(self) -> list[str]:
        """The members in an order where every step comes after what it needs; ValueError on
        a cycle (which would hold its steps for ever)."""
        graph: dict[str, set[str]] = {member.item_code: set() for member in self.members}
        for dependency in self.dependencies:
            graph.setdefault(dependency.item_code, set()).add(dependency.needs)
        try:
            return list(graphlib.TopologicalSorter(graph).static_order())
        except graphlib.CycleError as cycle:
            steps = " -> ".join(cycle.args[1])
            raise ValueError(f"{self.bundle_id}: dependencies form a cycle: {steps}") from None


class _Material(Protocol):
    @property
    def material_code(self) -> str: ...
    @property
    def certificate_items(self) -> list[str]: ...


class _Item(Protocol):
    @property
    def department(self) -> str: ...
    @property
    def applicant_kinds(self) -> Sequence[str]: ...
    def material(self, material_code: str) -> _Material | None: ...


def check_bundles(bundles: Sequence[Bundle], items: Mapping[str, _Item]) -> None:
    """ValueError naming the first bundle that does not fit the items of its catalog version
    (see the module's docstring for what is refused)."""
    ids = [bundle.bundle_id for bundle in bundles]
    repeated = sorted({bundle_id for bundle_id in ids if ids.count(bundle_id) > 1})
    if repeated:
        raise ValueError("each bundle_id may appear once; repeated: " + ", ".join(repeated))
    for bundle in bundles:
        for member in bundle.members:
            item = items.get(member.item_code)
            if item is None:
                raise ValueError(f"{bundle.bundle_id}: {member.item_code} is not in the catalog")
            if item.department != member.department:
                raise ValueError(
                    f"{bundle.bundle_id}: {member.item_code} is handled by {item.department}, "
                    f"not {member.department}"
                )
            if bundle.applicant_kind not in item.applicant_kinds:
                raise ValueError(
                    f"{bundle.bundle_id}: {member.item_code} takes no "
                    f"{bundle.applicant_kind} applicant"
                )
        for dependency in bundle.dependencies:
            material = items[dependency.item_code].material(dependency.material_code)
            if material is None or dependency.needs not in material.certificate_items:
                raise ValueError(
                    f"{bundle.bundle_id}: {dependency.item_code} {dependency.material_code} does "
                    f"not accept a certificate of {dependency.needs} (免证办)"
                )
