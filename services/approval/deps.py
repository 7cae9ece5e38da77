"""Approval's FastAPI dependencies: the collaborators main.py builds once (the outbox, the
localities' seals, the claim lapse...), handed to the endpoints as `Annotated` parameters. The
request's transaction (`DbSession`), its caller (`Caller`) and the blob store (`Blobs`) come from
shared.webapp and shared.authz."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated

from fastapi import Depends

from services.approval.seals import Seals
from services.approval.usecases.certificates import Issuer
from shared.crypto.personal import PersonalData
from shared.deps import part
from shared.messaging.outbox import Outbox
from shared.telemetry import Telemetry


@dataclass(frozen=True)
class Dependencies:
    """What approval's endpoints hand their use cases, built once at startup (main.py)."""

    outbox: Outbox
    personal: PersonalData
    telemetry: Telemetry
    # The localities' seals (电子印章), and what a decision needs to issue its document.
    seals: Seals
    issuer: Issuer
    # The key of the ID number digests (settings: PII_DIGEST_KEY), shared with intake.
    digest_key: bytes
    # How long a claim holds a case left idle (settings: CLAIM_LAPSE_MINUTES).
    claim_lapse: timedelta


OutboxDep = Annotated[Outbox, Depends(part("outbox"))]
PersonalDep = Annotated[PersonalData, Depends(part("personal"))]
TelemetryDep = Annotated[Telemetry, Depends(part("telemetry"))]
SealsDep = Annotated[Seals, Depends(part("seals"))]
IssuerDep = Annotated[Issuer, Depends(part("issuer"))]
DigestKey = Annotated[bytes, Depends(part("digest_key"))]
ClaimLapse = Annotated[timedelta, Depends(part("claim_lapse"))]
