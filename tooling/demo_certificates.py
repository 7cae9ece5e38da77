"""`make demo`'s window side of a certificate: printed by the receiving window's clerk (the PDF,
the print's ordinal, the QR code's verification URL) and verified publicly, for the province's
own approvals and for a partner province's certificate alike (tooling.demo,
tooling.federation_demo)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import httpx

from tooling.journey import Journey, poll_until
from tooling.stack import StackError


async def print_certificate(trip: Journey, certificate_no: str) -> tuple[bytes, str, str]:
    """The certificate's PDF as the receiving window's clerk prints it, the print's ordinal
    (X-Tongban-Print), and the verification URL its QR code carries (X-Tongban-Verify-Url)."""
    async with httpx.AsyncClient(
        base_url=trip.urls["delivery"],
        headers={"Authorization": f"Bearer {trip.clerk_token}"},
        timeout=30,
    ) as delivery:

        async def printed() -> httpx.Response | None:
            # The registry has it once delivery has read the sealed certificate (issued just
            # before the approval).
            response = await delivery.get(f"/v1/certificates/{certificate_no}.pdf")
            if response.status_code == 404:
                return None
            if response.status_code != 200:
                raise StackError(f"printing answered {response.status_code}: {response.text}")
            return response

        response = await poll_until(
            printed,
            within=trip.timeout,
            failure=f"{certificate_no} never reached delivery's certificate registry",
        )
    return (
        response.content,
        response.headers.get("X-Tongban-Print", "?"),
        response.headers["X-Tongban-Verify-Url"],
    )


async def verify_certificate(trip: Journey, url: str) -> dict[str, Any]:
    """The public verification (no token), at the URL the QR code carries (number and code)."""
    where = urlsplit(url)
    async with httpx.AsyncClient(base_url=trip.urls["delivery"], timeout=15) as public:
        response = await public.get(f"{where.path}?{where.query}")
    if response.status_code != 200:
        raise StackError(f"verification answered {response.status_code}: {response.text}")
    answer: dict[str, Any] = response.json()
    return answer
