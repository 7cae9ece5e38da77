"""The simulator's HTTP app: the carrier's `POST /v1/shipments` as the mode says, and the control
API (`/control/...`) that sets the mode and the webhook and lists the shipments."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from tooling.carrier_simulator.engine import Mode, Simulator

log = logging.getLogger("tongban.carrier_simulator")


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
