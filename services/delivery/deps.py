"""Delivery's FastAPI dependencies: the collaborators main.py builds once (the outbox, the key
ring's public keys, the verification limiter, the trusted proxies...), handed to the endpoints
as `Annotated` parameters. The request's transaction (`DbSession`) and its caller (`Caller`)
come from shared.webapp and shared.authz."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends

from services.delivery.ratelimit import Network, VerificationLimiter
from services.delivery.usecases.documents import PublicKeys
from shared.crypto.personal import PersonalData
from shared.db import Database
from shared.deps import part
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


DatabaseDep = Annotated[Database, Depends(part("db"))]
OutboxDep = Annotated[Outbox, Depends(part("outbox"))]
PersonalDep = Annotated[PersonalData, Depends(part("personal"))]
TelemetryDep = Annotated[Telemetry, Depends(part("telemetry"))]
PublicKeysDep = Annotated[PublicKeys, Depends(part("public_key"))]
DigestKey = Annotated[bytes, Depends(part("digest_key"))]
HandoverLimitDep = Annotated[HandoverLimit, Depends(part("handover_limit"))]
PublicBaseUrl = Annotated[str, Depends(part("public_base_url"))]
VerificationLimiterDep = Annotated[VerificationLimiter, Depends(part("verification_limiter"))]
TrustedProxies = Annotated[tuple[Network, ...], Depends(part("trusted_proxies"))]
CarrierWebhookSecret = Annotated[str, Depends(part("carrier_webhook_secret"))]
