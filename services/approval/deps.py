"""Approval's FastAPI dependencies: the collaborators main.py builds once (the outbox, the
localities' seals, the claim lapse...), handed to the endpoints as `Annotated` parameters. The
request's transaction (`DbSession`), its caller (`Caller`) and the blob store (`Blobs`) come from
shared.webapp and shared.authz."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated

from fastapi import Depends, FastAPI, Request

from services.approval.seals import Seals
from services.approval.usecases.certificates import Issuer
from shared.crypto.personal import PersonalData
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


def install(app: FastAPI, dependencies: Dependencies) -> None:
    app.state.approval = dependencies


def _dependencies(request: Request) -> Dependencies:
    # The dependencies below are async only so that FastAPI does not send them to a thread.
    dependencies: Dependencies = request.app.state.approval
    return dependencies


async def _outbox(request: Request) -> Outbox:
    return _dependencies(request).outbox


async def _personal(request: Request) -> PersonalData:
    return _dependencies(request).personal


async def _telemetry(request: Request) -> Telemetry:
    return _dependencies(request).telemetry


async def _seals(request: Request) -> Seals:
    return _dependencies(request).seals


async def _issuer(request: Request) -> Issuer:
    return _dependencies(request).issuer


async def _digest_key(request: Request) -> bytes:
    return _dependencies(request).digest_key


async def _claim_lapse(request: Request) -> timedelta:
    return _dependencies(request).claim_lapse


OutboxDep = Annotated[Outbox, Depends(_outbox)]
PersonalDep = Annotated[PersonalData, Depends(_personal)]
TelemetryDep = Annotated[Telemetry, Depends(_telemetry)]
SealsDep = Annotated[Seals, Depends(_seals)]
IssuerDep = Annotated[Issuer, Depends(_issuer)]
DigestKey = Annotated[bytes, Depends(_digest_key)]
ClaimLapse = Annotated[timedelta, Depends(_claim_lapse)]
