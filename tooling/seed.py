"""Seed data of local runs (`make run`, `make demo`, `make bench`, the tests): the trust
agreements the sample journeys need, granted through routing's own API as each grantor's
administration would. A production routing starts with no agreement at all.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import httpx

from shared.auth import Role, mint_token
from shared.reference.catalog import handled_anywhere_items
from shared.reference.localities import DEFAULT_PROVINCE, PROVINCE
from shared.settings import Settings
from shared.vocabulary import Right

ALL_RIGHTS = [right.value for right in Right]

# The province's default for the items it lists as handled anywhere (全省通办清单): every window
# in the province may accept them, check the originals (every item for persons needs the ID
# card's original seen at the window, so without it nothing could be handled anywhere), give the
# one-time notice and deliver the result. Then 合肥 and 阜阳 windows handle each other's items;
# 马鞍山 lets 阜阳 windows take its household item GA-HJ-001 (not on the province's list).
# Another province (TONGBAN_PROVINCE: Jiangsu's small demonstration set) gets the default only.
PROVINCE_DEFAULT: dict[str, Any] = {
    "grantor_locality": PROVINCE,
    "grantee_locality": "*",
    "item_codes": handled_anywhere_items(),
    "rights": ALL_RIGHTS,
}
ANHUI_AGREEMENTS: tuple[dict[str, Any], ...] = (
    {
        "grantor_locality": "340100",
        "grantee_locality": "341200",
        "item_codes": ["*"],
        "rights": ALL_RIGHTS,
    },
    {
        "grantor_locality": "341200",
        "grantee_locality": "340100",
        "item_codes": ["*"],
        "rights": ALL_RIGHTS,
    },
    {
        "grantor_locality": "340500",
        "grantee_locality": "341200",
        "item_codes": ["GA-HJ-001"],
        "rights": ALL_RIGHTS,
    },
)
DEMO_AGREEMENTS: tuple[dict[str, Any], ...] = (PROVINCE_DEFAULT,) + (
    ANHUI_AGREEMENTS if PROVINCE == DEFAULT_PROVINCE else ()
)


def _same(existing: dict[str, Any], wanted: dict[str, Any]) -> bool:
    return existing["revoked_at"] is None and all(
        existing[key] == value for key, value in wanted.items()
    )


async def seed_demo_agreements(
    routing_url: str, settings: Settings, *, token: Callable[[str, str], str] | None = None
) -> int:
    """Grant the demo agreements that are not in force yet; returns how many were granted.
    `token(role, locality)` gives the bearer tokens (default: minted with `settings`' ring; the
    compose test has them made inside a container)."""

    def minted(role: str, locality: str) -> str:
        return mint_token(settings, role=cast(Role, role), locality=locality, sub="seed")

    token = token or minted
    granted = 0
    async with httpx.AsyncClient(base_url=routing_url, timeout=15) as routing:
        reader = token("operator", PROVINCE)
        listed = await routing.get("/v1/agreements", headers={"Authorization": f"Bearer {reader}"})
        listed.raise_for_status()
        existing = listed.json()["agreements"]
        for wanted in DEMO_AGREEMENTS:
            if any(_same(agreement, wanted) for agreement in existing):
                continue
            admin = token("admin", wanted["grantor_locality"])
            response = await routing.post(
                "/v1/agreements", json=wanted, headers={"Authorization": f"Bearer {admin}"}
            )
            response.raise_for_status()
            granted += 1
    return granted
