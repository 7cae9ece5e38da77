"""Whether a trust agreement lets the competent locality verify originals (原件核验) for the
window's locality by video: routing's agreements (GET /v1/agreements), asked with the
reviewer's own token. The competent locality's own windows need none."""

from __future__ import annotations

from datetime import date
from typing import Any

import httpx

from services.consultation.domain import covers
from shared import clock
from shared.errors import ApiError, Forbidden
from shared.i18n import _

VERIFY_ORIGINAL = "verify_original"


def grants(agreement: dict[str, Any], competent: str, window_locality: str, item: str) -> bool:
    today: date = clock.now().date()
    until = agreement.get("valid_until")
    return (
        agreement.get("grantor_locality") == competent
        and covers(str(agreement.get("grantee_locality", "")), window_locality)
        and VERIFY_ORIGINAL in agreement.get("rights", [])
        and (not agreement.get("item_codes") or item in agreement["item_codes"])
        and agreement.get("revoked_at") is None
        and (until is None or date.fromisoformat(until) >= today)
    )


async def check_verify_right(
    routing_url: str, token: str, competent: str, window_locality: str, item: str
) -> None:
    """Forbidden unless the window is the competent locality's own or an agreement grants
    verify_original; 503 when routing cannot say."""
    if covers(competent, window_locality):
        return
    cursor: str | None = None
    try:
        async with httpx.AsyncClient(base_url=routing_url, timeout=5.0) as http:
            while True:
                params = {"cursor": cursor} if cursor else {}
                response = await http.get(
                    "/v1/agreements",
                    params=params,
                    headers={"Authorization": f"Bearer {token}"},
                )
                response.raise_for_status()
                page = response.json()
                if any(grants(a, competent, window_locality, item) for a in page["agreements"]):
                    return
                cursor = page.get("next_cursor")
                if not cursor:
                    break
    except httpx.HTTPError as error:
        raise ApiError(
            503, "routing_unavailable", _("The trust agreements cannot be read now.")
        ) from error
    raise Forbidden(
        "no_verify_right",
        _("No trust agreement grants the right to verify originals (原件核验) for this window."),
    )
