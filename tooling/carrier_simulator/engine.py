"""The carrier's side, simulated: shipments created once per Idempotency-Key (another body under
a used key is refused), the mode the control API sets (ok, fail, slow), and the tracking
reports sent to delivery's webhook, signed, in order, again with backoff until taken."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field

log = logging.getLogger("tongban.carrier_simulator")

EVENTS = ("picked_up", "in_transit", "delivered")
SIGNATURE_HEADER = "X-Carrier-Signature"
TOKEN_ENVIRONMENT = "CARRIER_SIMULATOR_TOKEN"
DEFAULT_STEP_SECONDS = 0.3
DEFAULT_SLOW_SECONDS = 10.0
# A report delivery never takes is given up after this long (logged).
WEBHOOK_GIVE_UP_SECONDS = 600.0
# A minted token is renewed well before it expires.
TOKEN_RENEW_SECONDS = 3600.0

Mode = Literal["ok", "fail", "slow"]


class AddressIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    line: str = Field(min_length=1, max_length=200)
    locality: str = Field(pattern=r"^\d{6}$")


class ShipmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reference: str = Field(min_length=1, max_length=64)
    recipient: str = Field(min_length=1, max_length=100)
    phone: str = Field(min_length=1, max_length=32)
    address: AddressIn
    # 一件事: the certificates one parcel holds.
    contents: list[str] = Field(default_factory=list, max_length=50)


@dataclass
class SimulatedShipment:
    idempotency_key: str
    tracking_no: str
    reference: str
    # SHA-256 of the first request's body: the same key with another body is refused.
    fingerprint: str
    created_at: datetime
    contents: list[str] = field(default_factory=list)
    requests: int = 1
    reported: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "idempotency_key": self.idempotency_key,
            "tracking_no": self.tracking_no,
            "reference": self.reference,
            "contents": list(self.contents),
            "requests": self.requests,
            "created_at": self.created_at.isoformat(),
            "reported": list(self.reported),
        }


def sign(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class Simulator:
    def __init__(
        self,
        *,
        secret: str,
        webhook_url: str | None = None,
        token: str | None = None,
        step_seconds: float = DEFAULT_STEP_SECONDS,
    ) -> None:
        self.secret = secret
        self.webhook_url = webhook_url
        self.given_token = token
        self.step_seconds = step_seconds
        self.mode: Mode = "ok"
        self.slow_seconds = DEFAULT_SLOW_SECONDS
        self.progress = True
        self.shipments: dict[str, SimulatedShipment] = {}
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()
        self._minted: tuple[str, float] | None = None
        self._http: httpx.AsyncClient | None = None

    # -- shipments --------------------------------------------------------------------------

    async def create(self, key: str, body: bytes) -> tuple[SimulatedShipment, bool]:
        fingerprint = hashlib.sha256(body).hexdigest()
        async with self._lock:
            known = self.shipments.get(key)
            if known is not None:
                known.requests += 1
                return known, False
            shipment = ShipmentIn.model_validate_json(body)
            created = SimulatedShipment(
                idempotency_key=key,
                tracking_no="SP" + secrets.token_hex(6).upper(),
                reference=shipment.reference,
                fingerprint=fingerprint,
                created_at=datetime.now(UTC),
                contents=list(shipment.contents),
            )
            self.shipments[key] = created
        log.info("shipment %s created for %s", created.tracking_no, created.reference)
        if self.progress:
            self._spawn(self._report_progress(created))
        return created, True

    def _spawn(self, work: Any) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- webhooks ---------------------------------------------------------------------------

    async def _report_progress(self, shipment: SimulatedShipment) -> None:
        for event in EVENTS:
            await asyncio.sleep(self.step_seconds)
            if not await self._report(shipment, event):
                return  # given up: later reports would arrive out of order anyway
            shipment.reported.append(event)

    async def _report(self, shipment: SimulatedShipment, event: str) -> bool:
        body = json.dumps(
            {
                "tracking_no": shipment.tracking_no,
                "event": event,
                "at": datetime.now(UTC).isoformat(),
            }
        ).encode()
        deadline = time.monotonic() + WEBHOOK_GIVE_UP_SECONDS
        wait = 0.2
        while True:
            outcome = await self._post_report(body)
            if outcome is None:
                return True
            if time.monotonic() > deadline:
                log.error("report %s of %s given up: %s", event, shipment.tracking_no, outcome)
                return False
            log.info("report %s of %s not taken (%s); again", event, shipment.tracking_no, outcome)
            await asyncio.sleep(wait)
            wait = min(wait * 2, 2.0)

    async def _post_report(self, body: bytes) -> str | None:
        """None when delivery took the report; otherwise why not."""
        if not self.webhook_url:
            return "no webhook URL yet"
        headers = {"Content-Type": "application/json", SIGNATURE_HEADER: sign(body, self.secret)}
        token = self._token()
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=5)
        try:
            response = await self._http.post(self.webhook_url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return type(exc).__name__
        if response.status_code in (200, 201, 204):
            return None
        return f"answered {response.status_code}"

    def _token(self) -> str | None:
        if self.given_token:
            return self.given_token
        if self._minted and self._minted[1] > time.monotonic():
            return self._minted[0]
        try:
            from shared.auth import mint_token
            from shared.settings import get_settings

            settings = get_settings()
            token = mint_token(
                settings, role="carrier", locality=settings.province, sub="carrier-simulator"
            )
        except Exception as exc:  # outside development: a token must be given
            log.warning("no carrier token (%s); give one in %s", exc, TOKEN_ENVIRONMENT)
            return None
        self._minted = (token, time.monotonic() + TOKEN_RENEW_SECONDS)
        return token

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._http is not None:
            await self._http.aclose()
