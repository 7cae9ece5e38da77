"""一件事一次办 over HTTP: a bundle application handed in at a window, and its state read back
(the tests' and the demo's; see contracts/bundles.md)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import httpx

from tooling.journey import (
    AUTHORIZATION_SCAN,
    HOUSEHOLD_REGISTER_SCAN,
    ID_CARD_SCAN,
    Journey,
    poll_until,
    scan_digest,
)

ID_CARD = scan_digest(ID_CARD_SCAN)
REGISTER = scan_digest(HOUSEHOLD_REGISTER_SCAN)
FORM = scan_digest(AUTHORIZATION_SCAN)


def newborn_bundle(applicant: Mapping[str, Any], mother_id_number: str) -> dict[str, Any]:
    """新生儿出生 (YJS-XSECS) with its four required members, each scan of the journey's sample
    scans (uploaded once) referenced by every member that needs it. The materials a sibling's
    certificate proves (出生医学证明, the household register) are not handed in: those members
    are held until the certificate is issued."""
    return {
        "bundle_id": "YJS-XSECS",
        "applicant": dict(applicant),
        "shared_fields": {
            "newborn_name": "张小满",
            "newborn_sex": "女",
            "birth_date": "2026-11-20",
            "birth_place": "合肥市第一人民医院",
            "mother_id_number": mother_id_number,
            "father_id_number": applicant["id_number"],
            "settle_with": "随父落户",
        },
        "members": [
            {
                "item_code": "WJ-CS-001",
                "materials": [
                    {"material_code": "M01", "sha256": ID_CARD, "original_verified": True},
                    {"material_code": "M02", "sha256": FORM},
                    {"material_code": "M03", "sha256": FORM},
                ],
            },
            {
                "item_code": "GA-HJ-003",
                "materials": [
                    {"material_code": "M02", "sha256": REGISTER, "original_verified": True},
                    {"material_code": "M03", "sha256": ID_CARD, "original_verified": True},
                ],
                "commitments": ["M04"],
            },
            {"item_code": "YL-CB-001", "materials": [{"material_code": "M02", "sha256": FORM}]},
            {"item_code": "SB-SBK-002"},  # its photo deferred (容缺)
        ],
        "delivery": {
            "method": "postal",
            "address": {
                "recipient": applicant["name"],
                "phone": applicant["phone"],
                "locality": applicant["locality"],
                "line": "合肥市蜀山区长江西路100号",
            },
        },
    }


async def submit_bundle(
    trip: Journey, body: Mapping[str, Any], key: str | None = None
) -> httpx.Response:
    async with trip._client("intake", trip.clerk_token) as intake:
        return await intake.post(
            "/v1/bundle-applications",
            json=dict(body),
            headers={"Idempotency-Key": key or str(uuid.uuid4())},
        )


async def bundle_state(trip: Journey, bundle_no: str) -> dict[str, Any]:
    async with trip._client("intake", trip.clerk_token) as intake:
        response = await intake.get(f"/v1/bundle-applications/{bundle_no}")
    if response.status_code != 200:
        raise AssertionError(f"bundle {bundle_no}: {response.status_code} {response.text}")
    state: dict[str, Any] = response.json()
    return state


async def bundle_timeline(trip: Journey, bundle_no: str) -> dict[str, Any]:
    """The bundle's timeline: each department's progress and clock, every child's steps."""
    async with trip._client("intake", trip.clerk_token) as intake:
        response = await intake.get(f"/v1/bundle-applications/{bundle_no}/timeline")
    if response.status_code != 200:
        raise AssertionError(f"bundle {bundle_no}: {response.status_code} {response.text}")
    timeline: dict[str, Any] = response.json()
    return timeline


async def released(trip: Journey, bundle_no: str, *item_codes: str) -> dict[str, Any]:
    """The bundle once the process manager released these members."""

    async def look() -> dict[str, Any] | None:
        state = await bundle_state(trip, bundle_no)
        listed = {child["item_code"]: child["status"] for child in state["children"]}
        return state if all(listed[code] == "released" for code in item_codes) else None

    return await poll_until(look, within=60.0, failure=f"{item_codes} never released")
