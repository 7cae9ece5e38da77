"""Adapter to the routing service: intake must know the competent locality and this window's
rights before it issues a receipt, so it asks over HTTP instead of waiting for an event."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.sdk.trace import TracerProvider
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from shared.errors import ApiError


@dataclass(frozen=True)
class Resolution:
    competent_locality: str
    department: str
    receiving_rights: frozenset[str]


# Routing's resolve fields, as the fields of intake's application body they come from.
_APPLICATION_FIELDS = {
    "applicant_locality": "applicant.locality",
    "property_locality": "property_locality",
}


class JurisdictionProblem(Exception):
    """Routing could not resolve the competent locality from what the applicant gave;
    `field` is the field of the application at fault."""

    def __init__(self, code: str, message: str, field: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field


class RoutingClient:
    def __init__(self, base_url: str, tracer_provider: TracerProvider) -> None:
        self.http = httpx.AsyncClient(base_url=base_url, timeout=httpx.Timeout(5.0))
        HTTPXClientInstrumentor.instrument_client(self.http, tracer_provider=tracer_provider)

    async def resolve(
        self,
        *,
        authorization: str,
        item_code: str,
        applicant_locality: str,
        property_locality: str | None,
        receiving_locality: str,
    ) -> Resolution:
        body: dict[str, Any] = {
            "item_code": item_code,
            "applicant_locality": applicant_locality,
            "property_locality": property_locality,
            "receiving_locality": receiving_locality,
        }
        try:
            async for attempt in AsyncRetrying(
                retry=retry_if_exception_type(httpx.TransportError),
                wait=wait_exponential(multiplier=0.1, max=1),
                stop=stop_after_attempt(3),
                reraise=True,
            ):
                with attempt:
                    # The clerk's own token goes along: routing authorises the same person.
                    response = await self.http.post(
                        "/v1/jurisdiction/resolve",
                        json=body,
                        headers={"Authorization": authorization},
                    )
        except httpx.TransportError as exc:
            raise ApiError(
                503, "routing_unavailable", "Routing cannot be reached; try again."
            ) from exc
        if response.status_code == 422:
            error = response.json().get("error", {})
            routing_field = (error.get("details") or [{}])[0].get("field", "")
            raise JurisdictionProblem(
                error.get("code", "unresolvable"),
                error.get("message", ""),
                _APPLICATION_FIELDS.get(routing_field, "applicant.locality"),
            )
        if response.status_code != 200:
            raise ApiError(502, "routing_error", f"Routing answered {response.status_code}.")
        data = response.json()
        return Resolution(
            competent_locality=data["competent_locality"],
            department=data["department"],
            receiving_rights=frozenset(data.get("receiving_rights") or ()),
        )

    async def close(self) -> None:
        await self.http.aclose()
