"""The carrier's HTTP API (邮政寄递), as delivery's dispatcher uses it: create a shipment.

One call is retried with backoff when the carrier cannot be reached, times out or answers 5xx,
always with the same Idempotency-Key (the certificate number; a bundle's parcel, the bundle's
number), so a retry after an answer that
was lost (the carrier created the shipment, the reply timed out) finds the same shipment
instead of posting the certificate twice. The key stays the same across dispatcher rounds and
restarts for the same reason.

Nothing here logs the request body: it carries the recipient's name, phone and address.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import httpx
from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)

from shared.settings import Settings

log = logging.getLogger(__name__)

SHIPMENTS_PATH = "/v1/shipments"


class CarrierUnavailable(Exception):
    """The carrier did not take the shipment: unreachable, timed out, or answered 5xx (after
    every attempt), or refused it. `reason` is short and free of personal data, for the
    dispatch's `last_error`."""

    def __init__(self, reason: str, *, retryable: bool = True) -> None:
        super().__init__(reason)
        self.reason = reason
        # False: the carrier refused the request itself (4xx); the same request will not do.
        self.retryable = retryable


class _Transient(Exception):
    """One attempt failed in a way the next attempt may not."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Shipment:
    """What the dispatcher hands to the carrier (the address in clear: only in memory)."""

    reference: str  # the certificate number (一件事: the bundle's number)
    recipient: str
    phone: str
    line: str
    locality: str
    # 一件事: the certificates the one parcel holds (a single dispatch's body has none).
    contents: tuple[str, ...] = ()

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "reference": self.reference,
            "recipient": self.recipient,
            "phone": self.phone,
            "address": {"line": self.line, "locality": self.locality},
        }
        if self.contents:
            body["contents"] = list(self.contents)
        return body

    def __repr__(self) -> str:  # never the address in a log line or a traceback
        return f"Shipment(reference={self.reference!r})"


@dataclass(frozen=True)
class Accepted:
    tracking_no: str
    created: bool  # False: the carrier already had this shipment (a repeated key)


class CarrierClient:
    """`create_shipment` against the carrier at `base_url`. Give it an AsyncClient with a mock
    transport in unit tests; it makes its own otherwise (close it with `aclose`)."""

    def __init__(
        self,
        base_url: str,
        *,
        name: str,
        timeout_seconds: float,
        max_attempts: int,
        backoff_seconds: float = 0.2,
        backoff_max_seconds: float = 2.0,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self.name = name
        self.max_attempts = max_attempts
        self.backoff_seconds = backoff_seconds
        self.backoff_max_seconds = backoff_max_seconds
        self._http = http or httpx.AsyncClient(
            base_url=base_url, timeout=httpx.Timeout(timeout_seconds)
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> CarrierClient:
        return cls(
            settings.carrier_base_url,
            name=settings.carrier_name,
            timeout_seconds=settings.carrier_timeout_seconds,
            max_attempts=settings.carrier_max_attempts,
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def create_shipment(self, shipment: Shipment, *, idempotency_key: str) -> Accepted:
        """The carrier's tracking number for `shipment`; CarrierUnavailable when it could not
        be had (after `max_attempts` for transient failures, at once for a refusal)."""
        try:
            async for attempt in AsyncRetrying(
                retry=retry_if_exception_type(_Transient),
                wait=wait_exponential(
                    multiplier=self.backoff_seconds, max=self.backoff_max_seconds
                ),
                stop=stop_after_attempt(self.max_attempts),
                reraise=True,
            ):
                with attempt:
                    return await self._post(shipment, idempotency_key)
        except _Transient as failed:
            raise CarrierUnavailable(
                f"{failed.reason} (after {self.max_attempts} attempt(s))"
            ) from failed
        raise AssertionError("unreachable: tenacity either returns or reraises")

    async def _post(self, shipment: Shipment, idempotency_key: str) -> Accepted:
        try:
            response = await self._http.post(
                SHIPMENTS_PATH,
                json=shipment.body(),
                headers={"Idempotency-Key": idempotency_key},
            )
        except httpx.TimeoutException as exc:
            # The carrier may have created it all the same: the next attempt, same key, tells.
            raise _Transient(f"timeout ({type(exc).__name__})") from exc
        except httpx.TransportError as exc:
            raise _Transient(f"unreachable ({type(exc).__name__})") from exc
        if response.status_code >= 500:
            raise _Transient(f"carrier answered {response.status_code}")
        if response.status_code not in (200, 201):
            # The body may quote what was sent; only the status goes on record.
            raise CarrierUnavailable(
                f"carrier refused the shipment ({response.status_code})", retryable=False
            )
        try:
            tracking_no = str(response.json()["tracking_no"])
        except (ValueError, KeyError, TypeError) as exc:
            raise _Transient("carrier answered without a tracking number") from exc
        if not tracking_no or len(tracking_no) > 32:
            raise _Transient("carrier answered an unusable tracking number")
        return Accepted(tracking_no=tracking_no, created=response.status_code == 201)
