"""A stand-in for a carrier's HTTP API (邮政寄递), run as its own process by `make run` and the
tests: `python -m tooling.carrier_simulator --port 8005 --webhook-url URL` (or
`tongban carrier-simulator`).

The carrier's side:
- `POST /v1/shipments` with `Idempotency-Key` and {reference, recipient, phone, address: {line,
  locality}} → 201 {tracking_no}; the same key again → 200 and the same shipment, never a
  second one (another body under a used key → 409).
- Once it has a shipment it reports progress to delivery's webhook (`POST /v1/carrier/events`):
  picked_up, in_transit, delivered, STEP seconds apart, each body {tracking_no, event, at}
  signed with HMAC-SHA256 over the raw body (`X-Carrier-Signature: sha256=<hex>`, the secret
  CARRIER_WEBHOOK_SECRET) and a bearer token of role `carrier` (CARRIER_SIMULATOR_TOKEN, or in
  development one minted from the key ring for the province). A report delivery does not
  take (down, 5xx, or a tracking number it does not know yet) is sent again with backoff, and
  the next one waits for it, so reports arrive in order.

Its control API, for tests and operators (no token: a local tool on loopback):
- `PUT /control/mode` {mode: ok | fail | slow, slow_seconds, progress, step_seconds}: `fail`
  answers 503 and creates nothing; `slow` creates the shipment, then answers only after
  `slow_seconds` (longer than the client waits: the ambiguous case); `progress: false` sends
  no reports (a test sends its own).
- `POST /control/recover`: back to `ok`.
- `PUT /control/webhook` {url, token}: where reports go (the tests learn delivery's port late).
- `GET /control/shipments` → every shipment with how often its key was presented.

Shipments live in memory. Request bodies (names, phones, addresses) are never logged.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import os
import secrets
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import httpx
from fastapi import FastAPI, Header, Request
from fastapi.responses import JSONResponse
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


class ModeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mode: Mode
    slow_seconds: float | None = Field(default=None, gt=0, le=300)
    progress: bool | None = None
    step_seconds: float | None = Field(default=None, ge=0, le=60)


class WebhookIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(min_length=1)
    token: str | None = None


@dataclass
class SimulatedShipment:
    idempotency_key: str
    tracking_no: str
    reference: str
    # SHA-256 of the first request's body: the same key with another body is refused.
    fingerprint: str
    created_at: datetime
    requests: int = 1
    reported: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "idempotency_key": self.idempotency_key,
            "tracking_no": self.tracking_no,
            "reference": self.reference,
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

            token = mint_token(
                get_settings(), role="carrier", locality="340000", sub="carrier-simulator"
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


def create_app(simulator: Simulator) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await simulator.close()

    app = FastAPI(title="Carrier simulator", lifespan=lifespan)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/v1/shipments")
    async def create_shipment(
        request: Request,
        idempotency_key: str = Header(..., alias="Idempotency-Key", min_length=1, max_length=64),
    ) -> JSONResponse:
        if simulator.mode == "fail":
            return JSONResponse(
                {"error": {"code": "unavailable", "message": "The carrier is down."}}, 503
            )
        body = await request.body()
        try:
            shipment, created = await simulator.create(idempotency_key, body)
        except ValueError:
            return JSONResponse(
                {"error": {"code": "invalid_request", "message": "Not a shipment."}}, 422
            )
        if not created and shipment.fingerprint != hashlib.sha256(body).hexdigest():
            return JSONResponse(
                {
                    "error": {
                        "code": "idempotency_key_reused",
                        "message": "This key was used for another shipment.",
                    }
                },
                409,
            )
        if simulator.mode == "slow":
            # Created, but the answer comes after the client gave up: the ambiguous case.
            await asyncio.sleep(simulator.slow_seconds)
        return JSONResponse({"tracking_no": shipment.tracking_no}, 201 if created else 200)

    @app.get("/control/state")
    async def state() -> dict[str, Any]:
        return {
            "mode": simulator.mode,
            "slow_seconds": simulator.slow_seconds,
            "progress": simulator.progress,
            "step_seconds": simulator.step_seconds,
            "webhook_url": simulator.webhook_url,
        }

    @app.put("/control/mode")
    async def set_mode(body: ModeIn) -> dict[str, Any]:
        simulator.mode = body.mode
        if body.slow_seconds is not None:
            simulator.slow_seconds = body.slow_seconds
        if body.progress is not None:
            simulator.progress = body.progress
        if body.step_seconds is not None:
            simulator.step_seconds = body.step_seconds
        log.info("mode %s", body.mode)
        return await state()

    @app.post("/control/recover")
    async def recover() -> dict[str, Any]:
        simulator.mode = "ok"
        log.info("recovered")
        return await state()

    @app.put("/control/webhook")
    async def set_webhook(body: WebhookIn) -> dict[str, Any]:
        simulator.webhook_url = body.url
        if body.token is not None:
            simulator.given_token = body.token
        return await state()

    @app.get("/control/shipments")
    async def shipments(reference: str | None = None) -> dict[str, Any]:
        return {
            "shipments": [
                s.as_json()
                for s in simulator.shipments.values()
                if reference is None or s.reference == reference
            ]
        }

    return app


# -- clients of the control API, and the process ------------------------------------------------


@dataclass
class SimulatorControl:
    """The control API over HTTP, for tests and operators."""

    base_url: str

    def _client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.base_url, timeout=10)

    async def _send(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        async with self._client() as http:
            response = await http.request(method, path, json=body)
            response.raise_for_status()
            return response.json()

    async def set_mode(
        self,
        mode: Mode,
        *,
        slow_seconds: float | None = None,
        progress: bool | None = None,
        step_seconds: float | None = None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"mode": mode}
        for name, value in (
            ("slow_seconds", slow_seconds),
            ("progress", progress),
            ("step_seconds", step_seconds),
        ):
            if value is not None:
                body[name] = value
        result: dict[str, Any] = await self._send("PUT", "/control/mode", body)
        return result

    async def recover(self) -> None:
        await self._send("POST", "/control/recover")

    async def set_webhook(self, url: str, token: str | None = None) -> None:
        await self._send("PUT", "/control/webhook", {"url": url, "token": token})

    async def shipments(self, reference: str | None = None) -> list[dict[str, Any]]:
        params = f"?reference={reference}" if reference else ""
        found: list[dict[str, Any]] = (await self._send("GET", f"/control/shipments{params}"))[
            "shipments"
        ]
        return found

    def ready_now(self) -> bool:
        """`ready`, from sync code (fixtures, launchers)."""
        try:
            return httpx.get(f"{self.base_url}/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    async def ready(self) -> bool:
        try:
            async with self._client() as http:
                return (await http.get("/healthz")).status_code == 200
        except httpx.HTTPError:
            return False


def simulator_command(port: int, webhook_url: str | None = None) -> list[str]:
    """The argv that runs the simulator in a process of its own."""
    argv = [sys.executable, "-m", "tooling.carrier_simulator", "--port", str(port)]
    if webhook_url:
        argv += ["--webhook-url", webhook_url]
    return argv


def webhook_url_of(delivery_url: str) -> str:
    return f"{delivery_url.rstrip('/')}/v1/carrier/events"


def serve(port: int, webhook_url: str | None, host: str = "127.0.0.1") -> None:
    import uvicorn

    from shared.http_server import HTTP_PROTOCOL
    from shared.settings import get_settings

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    settings = get_settings()
    simulator = Simulator(
        secret=settings.carrier_webhook_secret.get_secret_value(),
        webhook_url=webhook_url,
        token=os.environ.get(TOKEN_ENVIRONMENT) or None,
        step_seconds=float(os.environ.get("CARRIER_SIMULATOR_STEP_SECONDS", DEFAULT_STEP_SECONDS)),
    )
    uvicorn.run(
        create_app(simulator),
        host=host,
        port=port,
        http=HTTP_PROTOCOL,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=2,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, default=8005)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--webhook-url", default=None, help="delivery's POST /v1/carrier/events")
    args = parser.parse_args(argv)
    # SIGTERM (how the launcher stops its processes) is handled by uvicorn; SIGINT too.
    with contextlib.suppress(KeyboardInterrupt):
        serve(args.port, args.webhook_url, args.host)


if __name__ == "__main__":
    main()
