"""A versioned catalog the province publishes: a new version is current at once, routing takes
its items' rules (so a new item is accepted and routed), a restart of routing keeps them, and
every application keeps the version it was accepted under, and a bundle (一件事) of the previous
version keeps its members.

The stack is shared by the whole session: the version published here lists every built-in item
unchanged, plus one new item, and the built-in bundles with 退休 less its optional member (no
other test hands 退休 in), so nothing else sees a difference but the version's name.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine

from services.intake import deps
from services.intake.usecases import catalog
from services.routing.db import JurisdictionRuleRow
from services.routing.main import create_app as create_routing
from shared.reference.catalog import CATALOG, CATALOG_VERSION, catalog_file, get_item
from tests import factories
from tests.harness import Stack, eventually
from tooling.journey import (
    HOUSEHOLD_REGISTER_SCAN,
    ID_CARD_SCAN,
    household_application,
    scan_digest,
)

pytestmark = pytest.mark.integration

VERSION = "2026.1"
NEW_ITEM = "TEST-NEW-001"


def new_item() -> dict[str, Any]:
    """A household item like GA-HJ-001: decided by 合肥 for a 合肥 resident, and 合肥 grants 阜阳
    windows every right on every item (tooling/seed.py), so the 阜阳 window may take it."""
    base = get_item("GA-HJ-001")
    assert base is not None
    item = base.model_copy(update={"item_code": NEW_ITEM, "name": "测试新增事项（户口类）"})
    return item.model_dump(mode="json")


def catalog_of(*extra: dict[str, Any]) -> list[dict[str, Any]]:
    """The items of the built-in version's data file, published as they stand (it is in the
    format of a published version), and `extra` ones."""
    built_in = json.loads(catalog_file(CATALOG_VERSION).read_text(encoding="utf-8"))
    return [*built_in["items"], *extra]


def bundles_of_the_new_version() -> list[dict[str, Any]]:
    """The built-in version's bundles, 退休 without its optional 公积金 withdrawal."""
    built_in = json.loads(catalog_file(CATALOG_VERSION).read_text(encoding="utf-8"))
    bundles: list[dict[str, Any]] = built_in["bundles"]
    retirement = next(b for b in bundles if b["bundle_id"] == "YJS-TX")
    retirement["members"] = [m for m in retirement["members"] if m["item_code"] != "ZF-GJJ-003"]
    retirement["dependencies"] = [
        d for d in retirement["dependencies"] if d["item_code"] != "ZF-GJJ-003"
    ]
    return bundles


def retirement(applicant: dict[str, Any]) -> dict[str, Any]:
    """退休一件事 with its optional member: scans of the journey stand in for the documents."""
    id_card = {"sha256": scan_digest(ID_CARD_SCAN), "original_verified": True}
    form = {"sha256": scan_digest(HOUSEHOLD_REGISTER_SCAN)}
    return {
        "bundle_id": "YJS-TX",
        "applicant": applicant,
        "shared_fields": {
            "retirement_date": "2026-12-01",
            "employer": "合肥某公司",
            "bank_account": "6222",
        },
        "members": [
            {
                "item_code": "SB-TX-001",
                "materials": [
                    {"material_code": "M01", **id_card},
                    {"material_code": "M02", **form},
                    {"material_code": "M03", **form, "original_verified": True},
                ],
            },
            {"item_code": "YL-TX-001", "materials": [{"material_code": "M01", **id_card}]},
            {
                "item_code": "ZF-GJJ-003",
                "materials": [
                    {"material_code": "M01", **id_card},
                    {"material_code": "M03", **form},
                ],
            },
        ],
        "delivery": {"method": "window_pickup"},
    }


async def test_only_the_provinces_administration_publishes_and_bad_versions_are_refused(
    stack: Stack,
) -> None:
    body = {"version": "2099.9", "items": catalog_of()}
    for token, code in (
        (stack.token("admin", "340100", sub="hefei-admin"), "not_province_admin"),
        (stack.token("window_clerk", "341200", "W341200-01"), "forbidden_role"),
    ):
        async with stack.client("intake", token) as intake:
            refused = await intake.post("/v1/catalog/versions", json=body)
        assert refused.status_code == 403, refused.text
        assert refused.json()["error"]["code"] == code

    province = stack.token("admin", "340000", sub="province-admin")
    async with stack.client("intake", province) as intake:
        twice = catalog_of(CATALOG[0].model_dump(mode="json"))
        repeated = await intake.post("/v1/catalog/versions", json={**body, "items": twice})
        assert repeated.status_code == 422, repeated.text
        assert CATALOG[0].item_code in repeated.json()["error"]["details"][0]["message"]
        for wrong in (
            {**body, "version": "2026 1"},
            {**body, "version": "x" * 33},
            {**body, "items": []},
            {**body, "items": catalog_of({**new_item(), "item_code": "*"})},
            {**body, "items": catalog_of({**new_item(), "department": "局" * 129})},
        ):
            refused = await intake.post("/v1/catalog/versions", json=wrong)
            assert refused.status_code == 422, refused.text
            assert refused.json()["error"]["code"] == "invalid_request"
        listed = (await intake.get("/v1/catalog/versions")).json()
        assert "2099.9" not in {v["version"] for v in listed["versions"]}
        unknown = await intake.get("/v1/catalog/items", params={"version": "1999.1"})
        assert unknown.status_code == 404
        assert unknown.json()["error"]["code"] == "unknown_catalog_version"
        unknown = await intake.get("/v1/catalog/items/GA-HJ-001", params={"version": "1999.1"})
        assert unknown.json()["error"]["code"] == "unknown_catalog_version"


async def test_a_published_version_is_current_and_its_new_item_is_accepted_and_routed(
    stack: Stack,
) -> None:
    trip = stack.journey()
    before = await trip.submit(household_application(factories.applicant()))
    assert before.status_code == 201, before.text
    assert before.json()["catalog_version"] == CATALOG_VERSION
    before_no = before.json()["application_no"]
    await trip.upload_sample_scans()
    async with stack.client("intake", trip.clerk_token) as intake:
        bundled = await intake.post(
            "/v1/bundle-applications",
            json=retirement(factories.applicant()),
            headers={"Idempotency-Key": str(uuid.uuid4())},
        )
    assert bundled.status_code == 201, bundled.text
    assert bundled.json()["catalog_version"] == CATALOG_VERSION

    province = stack.token("admin", "340000", sub="province-admin")
    body = {
        "version": VERSION,
        "items": catalog_of(new_item()),
        "bundles": bundles_of_the_new_version(),
    }
    async with stack.client("intake", province) as intake:
        published = await intake.post("/v1/catalog/versions", json=body)
        assert published.status_code == 201, published.text
        answer = published.json()
        assert answer["version"] == VERSION and answer["items"] == len(CATALOG) + 1
        assert answer["bundles"] == 5
        assert answer["published_at"]
        again = await intake.post("/v1/catalog/versions", json=body)
        assert again.status_code == 409, again.text
        assert again.json()["error"]["code"] == "version_exists"

    # Catalog reads need no token.
    async with stack.client("intake") as intake:
        current = (await intake.get("/v1/catalog/items")).json()
        assert current["version"] == VERSION
        codes = [item["item_code"] for item in current["items"]]
        assert set(codes) == {item.item_code for item in CATALOG} | {NEW_ITEM}
        built_in = await intake.get("/v1/catalog/items", params={"version": CATALOG_VERSION})
        assert built_in.json()["version"] == CATALOG_VERSION
        assert NEW_ITEM not in {item["item_code"] for item in built_in.json()["items"]}
        guide = await intake.get(f"/v1/catalog/items/{NEW_ITEM}")
        assert guide.status_code == 200 and guide.json() == new_item()
        absent = await intake.get(
            f"/v1/catalog/items/{NEW_ITEM}", params={"version": CATALOG_VERSION}
        )
        assert absent.status_code == 404 and absent.json()["error"]["code"] == "unknown_item"
        # Every built-in item is unchanged in the new version.
        for item in CATALOG:
            same = await intake.get(f"/v1/catalog/items/{item.item_code}")
            assert same.json() == item.model_dump(mode="json")
        versions = (await intake.get("/v1/catalog/versions")).json()
    assert versions["current"] == VERSION
    listed = {v["version"]: v for v in versions["versions"]}
    assert [v["version"] for v in versions["versions"]][:2] == [VERSION, CATALOG_VERSION]
    assert listed[VERSION]["items"] == len(CATALOG) + 1
    assert listed[VERSION]["published_by"] == "province-admin"
    assert listed[CATALOG_VERSION]["published_by"] == "built-in"

    # Another intake process learns the version from the table (here: a fresh holder).
    wired: deps.Dependencies = stack.services["intake"].app.state.dependencies
    elsewhere = catalog.Catalog()
    async with wired.db.transaction() as session:
        assert await catalog.refresh_catalog(session, elsewhere) >= 2
    assert elsewhere.version == VERSION and elsewhere.of(CATALOG_VERSION) is not None

    # The new item is accepted once routing took the version's rules and intake's replica
    # followed them (until then: 503 routing_rules_unavailable).
    application = {**household_application(factories.applicant()), "item_code": NEW_ITEM}

    async def accepted() -> dict[str, Any] | None:
        response = await trip.submit(application)
        if response.status_code == 503:
            assert response.json()["error"]["code"] == "routing_rules_unavailable"
            return None
        assert response.status_code == 201, response.text
        answer: dict[str, Any] = response.json()
        return answer

    new = await eventually(accepted, within=30)
    assert isinstance(new, dict)
    assert new["catalog_version"] == VERSION and new["competent_locality"] == "340100"
    routed = await trip.wait_for_status(new["application_no"], "routed")
    assert routed["catalog_version"] == VERSION and routed["item_code"] == NEW_ITEM
    assert (await trip.application(before_no))["catalog_version"] == CATALOG_VERSION

    # 一件事: the new version's 退休 has two members; the previous version's keeps its three,
    # and so does the bundle application handed in under it.
    async with stack.client("intake") as intake:
        now = (await intake.get("/v1/catalog/bundles/YJS-TX")).json()
        then = await intake.get("/v1/catalog/bundles/YJS-TX", params={"version": CATALOG_VERSION})
    assert [m["item_code"] for m in now["members"]] == ["SB-TX-001", "YL-TX-001"]
    assert [m["item_code"] for m in then.json()["members"]] == [
        "SB-TX-001",
        "YL-TX-001",
        "ZF-GJJ-003",
    ]
    async with stack.client("intake", trip.clerk_token) as intake:
        kept = await intake.get(f"/v1/bundle-applications/{bundled.json()['bundle_no']}")
    assert kept.json()["catalog_version"] == CATALOG_VERSION
    assert {c["item_code"] for c in kept.json()["children"]} == {
        "SB-TX-001",
        "YL-TX-001",
        "ZF-GJJ-003",
    }

    # A restart of routing keeps the published rules (it used to rewrite them from the
    # built-in catalog at every start).
    async def rule_versions() -> dict[str, str | None]:
        engine = create_async_engine(stack.settings.service_database_url("routing"))
        try:
            async with engine.connect() as connection:
                rows = await connection.execute(
                    select(JurisdictionRuleRow.item_code, JurisdictionRuleRow.catalog_version)
                )
                return {code: version for code, version in rows}
        finally:
            await engine.dispose()

    assert set((await rule_versions()).values()) == {VERSION}
    await stack.stop_service("routing")
    await stack.start("routing", lambda _: create_routing(stack.settings, stack.spans))
    assert set((await rule_versions()).values()) == {VERSION}
    again = await trip.submit(
        {**household_application(factories.applicant()), "item_code": NEW_ITEM}
    )
    assert again.status_code == 201, again.text
    await trip.wait_for_status(again.json()["application_no"], "routed")
