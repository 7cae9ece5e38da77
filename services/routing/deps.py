"""Routing's FastAPI dependencies: the collaborators main.py builds once (the outbox, the key
ring, the follower of the published checkpoints), handed to the endpoints as `Annotated`
parameters. The request's transaction (`DbSession`) and its caller (`Caller`) come from
shared.webapp and shared.authz."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from shared.audit.checkpoints import CheckpointFollower
from shared.audit.ledger import PublishedCheckpoints
from shared.crypto.keyring import KeyRing
from shared.deps import installed, part
from shared.messaging.outbox import Outbox


@dataclass(frozen=True)
class Dependencies:
    """What routing's endpoints hand their use cases, built once at startup (main.py)."""

    outbox: Outbox
    # The trust list's public keys, which the ledger's signatures are checked against (the ring
    # reads the list again when it changes, so one serves the process's life).
    ring: KeyRing
    # Every checkpoint routing published, read back from the retained topic
    # (shared.audit.checkpoints).
    checkpoints: CheckpointFollower


async def _published(request: Request) -> PublishedCheckpoints:
    """Every checkpoint published so far, as routing's follower of the topic read them."""
    return installed(request).checkpoints.published


OutboxDep = Annotated[Outbox, Depends(part("outbox"))]
TrustList = Annotated[KeyRing, Depends(part("ring"))]
Published = Annotated[PublishedCheckpoints, Depends(_published)]
