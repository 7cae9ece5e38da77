"""Delivery's FastAPI dependencies: the collaborators main.py builds once (the outbox, the key
ring's public keys, the verification limiter, the trusted proxies...), handed to the endpoints
as `Annotated` parameters. The request's transaction (`DbSession`) and its caller (`Caller`)
come from shared.webapp and shared.authz."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, FastAPI, Request

from services.delivery.ratelimit import Network, VerificationLimiter
from services.delivery.usecases.documents import PublicKeys
from shared.crypto.personal import PersonalData
from shared.db import Database
from shared.messaging.outbox import Outbox
from shared.telemetry import Telemetry


@dataclass(frozen=True)
class HandoverLimit:
    """A window's limit on refused hand-overs (settings: HANDOVER_MAX_FAILURES within
    HANDOVER_FAILURE_WINDOW_MINUTES)."""

    max_failures: int
    minutes: float


@dataclass(frozen=True)
class Dependencies:
    """What delivery's endpoints hand their use cases, built once at startup (main.py)."""

    # For the two use cases that open their own transactions (hand-over, verification).
    db: Database
    outbox: Outbox
    personal: PersonalData
    telemetry: Telemetry
    # The key ring's published keys (current and retired), which seals are checked with.
    public_key: PublicKeys
    # The key of the ID number digests (settings: PII_DIGEST_KEY), shared with approval.
    digest_key: bytes
    handover_limit: HandoverLimit
    # Where a printed certificate's QR code points (settings: PUBLIC_BASE_URL).
    public_base_url: str
    # VERIFY_RATE_LIMIT_PER_MINUTE per client, counted in delivery's database.
    verification_limiter: VerificationLimiter
    # TRUSTED_PROXIES, whose forwarded client address is believed.
    trusted_proxies: tuple[Network, ...]
    # The secret the carrier signs its tracking reports with (CARRIER_WEBHOOK_SECRET).
    carrier_webhook_secret: str


def install(app: FastAPI, dependencies: Dependencies) -> None:
    app.state.delivery = dependencies


def _dependencies(request: Request) -> Dependencies:
    # The dependencies below are async only so that FastAPI does not send them to a thread.
    dependencies: Dependencies = request.app.state.delivery
    return dependencies


async def _database(request: Request) -> Database:
    return _dependencies(request).db


async def _outbox(request: Request) -> Outbox:
    return _dependencies(request).outbox


async def _personal(request: Request) -> PersonalData:
    return _dependencies(request).personal


async def _telemetry(request: Request) -> Telemetry:
    return _dependencies(request).telemetry


async def _public_key(request: Request) -> PublicKeys:
    return _dependencies(request).public_key


async def _digest_key(request: Request) -> bytes:
    return _dependencies(request).digest_key


async def _handover_limit(request: Request) -> HandoverLimit:
    return _dependencies(request).handover_limit


async def _public_base_url(request: Request) -> str:
    return _dependencies(request).public_base_url


async def _verification_limiter(request: Request) -> VerificationLimiter:
    return _dependencies(request).verification_limiter


async def _trusted_proxies(request: Request) -> tuple[Network, ...]:
    return _dependencies(request).trusted_proxies


async def _carrier_webhook_secret(request: Request) -> str:
    return _dependencies(request).carrier_webhook_secret


DatabaseDep = Annotated[Database, Depends(_database)]
OutboxDep = Annotated[Outbox, Depends(_outbox)]
PersonalDep = Annotated[PersonalData, Depends(_personal)]
TelemetryDep = Annotated[Telemetry, Depends(_telemetry)]
PublicKeysDep = Annotated[PublicKeys, Depends(_public_key)]
DigestKey = Annotated[bytes, Depends(_digest_key)]
HandoverLimitDep = Annotated[HandoverLimit, Depends(_handover_limit)]
PublicBaseUrl = Annotated[str, Depends(_public_base_url)]
VerificationLimiterDep = Annotated[VerificationLimiter, Depends(_verification_limiter)]
TrustedProxies = Annotated[tuple[Network, ...], Depends(_trusted_proxies)]
CarrierWebhookSecret = Annotated[str, Depends(_carrier_webhook_secret)]
