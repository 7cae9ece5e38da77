"""Whether a trust agreement lets the competent locality verify originals (原件核验) for the
window's locality by video: routing's agreements (GET /v1/agreements), asked with the
reviewer's own token. The competent locality's own windows need none."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import httpx

from services.consultation.domain import covers
from shared import clock
from shared.errors import ApiError, Forbidden
from shared.i18n import _
from shared.jurisdiction import Agreement, agreement_grants
from shared.vocabulary import Right

RIGHT_VALUES = {right.value for right in Right}


def grants(agreement: dict[str, Any], competent: str, window_locality: str, item: str) -> bool:
    """shared.jurisdiction's reading of one agreement of routing's answer."""
    revoked = agreement.get("revoked_at")
    until = agreement.get("valid_until")
    held = Agreement(
        grantor_locality=str(agreement["grantor_locality"]),
        grantee_locality=str(agreement["grantee_locality"]),
        item_codes=tuple(agreement.get("item_codes") or ()),
        rights=frozenset(Right(r) for r in agreement.get("rights", ()) if r in RIGHT_VALUES),
        valid_until=date.fromisoformat(until) if until else None,
        revoked_at=datetime.fromisoformat(revoked) if revoked else None,
    )
    return agreement_grants(
        held,
        competent=competent,
        receiving=window_locality,
        item_code=item,
        right=Right.VERIFY_ORIGINAL,
        at=clock.now(),
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
