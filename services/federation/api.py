"""The gateway's HTTP API, served only over mutual TLS (services/federation/tls.py):

- `POST /v1/federation/messages`: a partner's gateway delivers a signed message. 200
  `{"status": "accepted" | "duplicate"}` acknowledges it (the sender stops resending); 403
  `{"refused": reason}` when it does not verify (shared.federation.messages), 400 when it is
  not a message at all. A refused message is logged and has no effect.
- `GET /v1/federation/partners`: the partner provinces this gateway trusts now.
- `GET /v1/federation/outbox`: per partner, the messages not acknowledged yet and the last
  error.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from services.federation.usecases import incoming, outgoing
from shared.federation.messages import Refusal

router = APIRouter(prefix="/v1/federation")


@router.post("/messages")
async def receive_message(request: Request) -> JSONResponse:
    gateway = request.app.state.gateway
    try:
        data: Any = await request.json()
    except ValueError:
        return JSONResponse({"refused": "malformed"}, status_code=400)
    try:
        async with gateway.db.transaction() as session:
            outcome = await incoming.receive(
                session,
                data,
                own_province=gateway.province,
                partners=gateway.partners,
                max_skew=timedelta(seconds=gateway.settings.federation_max_skew_seconds),
                scan_store=gateway.scans,
            )
    except Refusal as refusal:
        status = 400 if refusal.reason == "malformed" else 403
        return JSONResponse({"refused": refusal.reason}, status_code=status)
    return JSONResponse({"status": outcome})


@router.get("/outbox")
async def outbox(request: Request) -> dict[str, Any]:
    async with request.app.state.gateway.db.transaction() as session:
        return {"waiting": await outgoing.waiting(session)}


@router.get("/partners")
async def partners(request: Request) -> dict[str, Any]:
    gateway = request.app.state.gateway
    return {
        "province": gateway.province,
        "partners": [
            {
                "province": anchor.province,
                "name": anchor.name,
                "gateway_url": anchor.gateway_url,
                "valid_until": anchor.valid_until.isoformat(),
                "fingerprint": anchor.fingerprint,
            }
            for anchor in gateway.partners.all()
        ],
    }
