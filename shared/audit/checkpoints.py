"""The ledger's checkpoints as published, read back from the retained topic.

Routing keeps a copy of every checkpoint it signs in its own database, but an intruder with that
database can delete entries together with the checkpoints that covered them. What routing
published on `tongban.audit.checkpoints` it cannot take back (the topic keeps every record for
good and routing may only append to it), so verification holds the chain to the topic: every
process that verifies (routing, `tongban audit verify`) follows it from the beginning, keeping
each checkpoint whose statement routing's key signed. `tongban audit watch` keeps its own copy
besides (tooling/audit_watch.py), checked with the same `statement_signed`.
"""

from __future__ import annotations

import base64
import binascii
import logging
from datetime import datetime

from shared.audit import ledger
from shared.crypto.keyring import KeyRing, key_name
from shared.messaging import events, topics
from shared.messaging.events import EventPayload
from shared.messaging.kafka import KafkaSecurity
from shared.messaging.replica import TopicReplica
from shared.messaging.signing import EventVerifier

log = logging.getLogger(__name__)


def signed_by_routing(
    ring: KeyRing, statement: bytes, signer: str, signature: bytes, signed_at: datetime
) -> bool:
    """The signature verifies with a key of the trust list that speaks for routing and was
    neither revoked nor retired at `signed_at` (the time the head states)."""
    return key_name(signer) == ledger.LEDGER_SIGNER and ring.verify(
        signer, statement, signature, signed_at
    )


def checkpoint_of(published: events.LedgerCheckpoint) -> ledger.Checkpoint:
    return ledger.Checkpoint(
        seq=published.seq, hash=published.hash, at=published.at, signer=published.signer
    )


def statement_signed(ring: KeyRing, published: events.LedgerCheckpoint) -> bool:
    """The checkpoint's own statement carries routing's signature (what a third party checks,
    contracts/audit-ledger.md), whoever signed the event around it."""
    try:
        signature = base64.b64decode(published.signature, validate=True)
    except (binascii.Error, ValueError):
        return False
    statement = ledger.head_statement(published.seq, published.hash, published.at)
    return signed_by_routing(ring, statement, published.signer, signature, published.at)


class CheckpointFollower:
    """Follows `tongban.audit.checkpoints` from its beginning into `published`; a checkpoint
    whose statement routing's key did not sign is counted in `refused` and holds nothing."""

    TOPIC = topics.AUDIT_CHECKPOINTS

    def __init__(
        self,
        ring: KeyRing,
        *,
        bootstrap_servers: str,
        name: str,
        verifier: EventVerifier | None = None,
        security: KafkaSecurity | None = None,
    ) -> None:
        self.ring = ring
        self.published = ledger.PublishedCheckpoints()
        self.refused = 0
        self._replica = TopicReplica(
            topic=self.TOPIC,
            bootstrap_servers=bootstrap_servers,
            apply=self._take,
            name=name,
            verifier=verifier,
            security=security,
        )

    def _take(self, payload: EventPayload) -> None:
        if not isinstance(payload, events.LedgerCheckpoint):
            return
        if not statement_signed(self.ring, payload):
            self.refused += 1
            log.warning("audit checkpoint of seq %d refused: not signed by routing", payload.seq)
            return
        before = len(self.published.conflicts)
        self.published.add(checkpoint_of(payload))
        if len(self.published.conflicts) > before:
            log.error("two published checkpoints disagree on ledger entry %d", payload.seq)

    async def start(self, *, load_within: float = 30.0) -> None:
        """Read every checkpoint published so far, then keep following."""
        await self._replica.start(load_within=load_within)

    async def stop(self) -> None:
        await self._replica.stop()

    @property
    def loaded(self) -> bool:
        """Every checkpoint published before the start was read."""
        return self._replica.caught_up

    def readiness(self) -> dict[str, str]:
        following = self._replica.following
        return {"audit_checkpoints": "ok" if following else "not following"}


async def read_published(
    ring: KeyRing,
    *,
    bootstrap_servers: str,
    verifier: EventVerifier | None = None,
    security: KafkaSecurity | None = None,
) -> tuple[ledger.PublishedCheckpoints, int]:
    """Every checkpoint published so far (read to the topic's end once), and how many were
    refused."""
    follower = CheckpointFollower(
        ring,
        bootstrap_servers=bootstrap_servers,
        name="tongban-audit-verify",
        verifier=verifier,
        security=security,
    )
    await follower.start()
    await follower.stop()
    return follower.published, follower.refused
