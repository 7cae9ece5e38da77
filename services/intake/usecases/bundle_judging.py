"""Judging a bundle application (一件事一次办): every member against its item's standard, from
memory, as the window's ordinary applications are judged (usecases/judging.py), and the bundle's
own rules: its required members present, no member it does not list, its shared fields filled.

A member that waits for a sibling's certificate (the bundle's dependencies, 免证办) is judged
without the material that certificate will prove: it is held, not refused for it."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

from services.intake import domain
from services.intake.bundle_schemas import BundleApplicationIn, BundleMemberIn
from services.intake.usecases.catalog import Catalog, CatalogVersion
from services.intake.usecases.judging import Accept, Notify, SubmitApplication, judge
from shared.auth import Principal
from shared.errors import Invalid
from shared.i18n import N_, _
from shared.jurisdiction import RuleBook
from shared.messaging import events
from shared.reference.bundles import Bundle
from shared.reference.catalog import CatalogItem


@dataclass(frozen=True)
class SubmitBundle:
    """Command: a window clerk hands in a bundle application (or the portal, online, for the
    window the applicant chose)."""

    body: BundleApplicationIn
    clerk: Principal
    idempotency_key: str
    channel: events.ApplicationChannel = "window"


@dataclass(frozen=True)
class MemberVerdict:
    member: BundleMemberIn
    verdict: Accept
    # {prerequisite item_code: the material its certificate proves}; empty: not held.
    waits_for: Mapping[str, str]


@dataclass(frozen=True)
class BundleVerdict:
    bundle: Bundle
    version: CatalogVersion
    # In the bundle's order: every member after those it waits for. Empty when `problems`.
    members: list[MemberVerdict]
    problems: list[domain.Problem]


def the_bundle(version: CatalogVersion, bundle_id: str) -> Bundle:
    bundle = version.bundles.get(bundle_id)
    if bundle is None:
        raise Invalid.of_field(
            "unknown_bundle",
            _(
                "No bundle {bundle_id} in catalog version {version}.",
                bundle_id=bundle_id,
                version=version.version,
            ),
            "bundle_id",
        )
    return bundle


def _bundle_problems(bundle: Bundle, body: BundleApplicationIn) -> list[domain.Problem]:
    problems: list[domain.Problem] = []
    asked = {member.item_code for member in body.members}
    for member in bundle.members:
        if member.required and member.item_code not in asked:
            problems.append(
                domain.Problem(
                    "bundle_member_missing",
                    N_("A required member of the bundle is missing: {item_code}."),
                    field="members",
                    params={"item_code": member.item_code},
                    item_code=member.item_code,
                )
            )
    for code in sorted(asked - {member.item_code for member in bundle.members}):
        problems.append(
            domain.Problem(
                "not_a_bundle_member",
                N_("{item_code} is not a member of this bundle."),
                field="members",
                params={"item_code": code},
                item_code=code,
            )
        )
    listed = {shared.field for shared in bundle.shared_fields}
    for shared in bundle.shared_fields:
        if shared.required and not body.shared_fields.get(shared.field, "").strip():
            problems.append(
                domain.Problem(
                    "shared_field_missing",
                    N_("The combined form's field {label} is required."),
                    field=f"shared_fields.{shared.field}",
                    params={"label": shared.label},
                )
            )
    for name in sorted(set(body.shared_fields) - listed):
        problems.append(
            domain.Problem(
                "unknown_shared_field",
                N_("The combined form has no field {field}."),
                field=f"shared_fields.{name}",
                params={"field": name},
            )
        )
    return problems


def _without(item: CatalogItem, withheld: set[str]) -> CatalogItem:
    """The item as a held member is judged: the materials a sibling's certificate will prove
    are not asked for at the window."""
    materials = [
        material.model_copy(update={"required": False})
        if material.material_code in withheld
        else material
        for material in item.materials
    ]
    return item.model_copy(update={"materials": materials})


def judge_bundle(
    command: SubmitBundle,
    version: CatalogVersion,
    rules: RuleBook,
    digest_key: bytes,
    scans: Mapping[str, tuple[int, str]],
    registry: Mapping[str, domain.RegisteredCertificate],
) -> BundleVerdict:
    """Every member judged, every problem of every member kept (one combined notice). Raises
    what refuses a member outright (no right to accept it here, rules not yet known)."""
    body = command.body
    bundle = the_bundle(version, body.bundle_id)
    problems = _bundle_problems(bundle, body)
    asked = {member.item_code: member for member in body.members if bundle.member(member.item_code)}
    judged: list[MemberVerdict] = []
    for item_code in bundle.order():
        member = asked.get(item_code)
        if member is None:
            continue
        waits_for = {
            dependency.needs: dependency.material_code
            for dependency in bundle.prerequisites(item_code)
            if dependency.needs in asked
        }
        item = version.items[item_code]  # check_bundles: every member is an item of its version
        if waits_for:
            item = _without(item, set(waits_for.values()))
        one = SubmitApplication(
            body.member_application(member), command.clerk, command.idempotency_key
        )
        pinned = Catalog.fixed({item_code: item}, version.version)
        verdict = judge(one, pinned, rules, digest_key, scans, registry)
        if isinstance(verdict, Notify):
            problems.extend(
                dataclasses.replace(problem, item_code=item_code) for problem in verdict.problems
            )
        else:
            judged.append(MemberVerdict(member, verdict, waits_for))
    return BundleVerdict(bundle, version, [] if problems else judged, problems)
