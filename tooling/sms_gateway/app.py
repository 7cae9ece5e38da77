"""The simulator's HTTP app: the gateway's `POST /v1/messages` as the control API ordered, and the
control API (`/control/...`) that orders failures, points the reports and lists the messages."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.sms import ReportStatus
from tooling.sms_gateway.engine import Gateway, MessageIn

log = logging.getLogger("tongban.sms_gateway")


class FailIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    count: int = Field(ge=0, le=10_000)


class SlowIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    count: int = Field(ge=0, le=10_000)
    seconds: float = Field(gt=0, le=300)


class ReportsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # "" stops the reports (a test's receiver is gone).
    url: str | None = None
    outcome: ReportStatus | None = None
    delay_seconds: float | None = Field(default=None, ge=0, le=60)


def _error(code: str, message: str, status: int) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status)


def create_app(gateway: Gateway) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await gateway.close()

    app = FastAPI(title="SMS gateway simulator", lifespan=lifespan)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/v1/messages")
    async def send(request: Request) -> JSONResponse:
        if gateway.take_failure():
            return _error("unavailable", "The SMS gateway is down.", 503)
        try:
            message = MessageIn.model_validate_json(await request.body())
        except ValidationError as exc:
            # Which fields, never their values: the number and the text stay out of answers.
            fields = sorted({".".join(str(p) for p in e["loc"]) or "body" for e in exc.errors()})
            return _error("invalid_request", f"Not a message: {', '.join(fields)}.", 422)
        taken, new = await gateway.accept(message)
        delay = gateway.take_delay()
        if delay:
            # Taken, but the answer comes after the sender gave up: the ambiguous case.
            await asyncio.sleep(delay)
        return JSONResponse(
            {"message_id": taken.message_id, "status": "accepted"}, 202 if new else 200
        )

    @app.get("/control/state")
    async def state() -> dict[str, Any]:
        return {
            "failing": gateway.failing,
            "slow": gateway.slow,
            "slow_seconds": gateway.slow_seconds,
            "report_url": gateway.report_url,
            "report_outcome": gateway.report_outcome,
            "report_delay_seconds": gateway.report_delay_seconds,
            "messages": len(gateway.messages),
        }

    @app.get("/control/messages")
    async def messages(to: str | None = None, reference: str | None = None) -> list[dict[str, Any]]:
        return gateway.listed(to=to, reference=reference)

    @app.post("/control/fail")
    async def fail(body: FailIn) -> dict[str, Any]:
        gateway.fail_next(body.count)
        return await state()

    @app.post("/control/slow")
    async def slow(body: SlowIn) -> dict[str, Any]:
        gateway.slow_next(body.count, body.seconds)
        return await state()

    @app.put("/control/reports")
    async def reports(body: ReportsIn) -> dict[str, Any]:
        if body.url is not None:
            gateway.report_url = body.url or None
        if body.outcome is not None:
            gateway.report_outcome = body.outcome
        if body.delay_seconds is not None:
            gateway.report_delay_seconds = body.delay_seconds
        return await state()

    @app.post("/control/reset")
    async def reset() -> dict[str, Any]:
        gateway.reset()
        return await state()

    return app
