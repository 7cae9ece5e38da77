"""A revoked key on the real broker: what it signed before its revocation time still counts;
what claims a time at or after it is dead-lettered with the reason and opens no case, even
before the key's retirement (a key lost a while before anyone rotated it)."""

from __future__ import annotations

import base64
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from aiokafka import AIOKafkaProducer

from shared.crypto.keyring import KeyRing
from shared.crypto.sm import sm2_sign
from shared.messaging import topics
from shared.messaging.envelope import Envelope
from shared.messaging.signing import canonical_bytes
from tests.harness import Stack, eventually
from tests.integration.test_reliability import count_cases, new_application_no, routed_event
from tests.integration.test_signed_events import dead_letter_reason

pytestmark = pytest.mark.integration

HEFEI_REQUESTS = topics.approval_requests("340100")


def signed_at(envelope: Envelope, at: datetime, ring: KeyRing, kid: str) -> Envelope:
    """`envelope` claiming time `at`, signed with the private key `kid` of the ring (as a thief
    of that key would sign)."""
    [stored] = [key for key in ring._load("routing", "SM2-SM3") if key.kid == kid]
    dated = replace(envelope, time=at)
    signature = sm2_sign(stored.secret, canonical_bytes(dated))
    return dated.signed(base64.b64encode(signature).decode(), kid)


async def test_an_event_signed_by_a_revoked_key_after_its_revocation_is_refused(
    stack: Stack, producer: AIOKafkaProducer
) -> None:
    ring = stack.settings.key_ring()
    lost = ring.signer("routing").kid
    # Routing's key may have been copied at `revoked_at`; the operators rotate it and revoke
    # the old one as of then (the services sign with the new key from here on).
    revoked_at = datetime.now(UTC)
    ring.rotate("routing")
    ring.revoke(lost, revoked_at)
    assert ring.public_key(lost).status == "revoked"  # type: ignore[union-attr]

    before = signed_at(
        Envelope.new(routed_event(new_application_no()), source="/tongban/routing"),
        revoked_at - timedelta(seconds=1),
        ring,
        lost,
    )
    after = signed_at(
        Envelope.new(routed_event(new_application_no()), source="/tongban/routing"),
        revoked_at,
        ring,
        lost,
    )
    await stack.put(producer, HEFEI_REQUESTS, after)
    await stack.put(producer, HEFEI_REQUESTS, before)

    message = await dead_letter_reason(stack, HEFEI_REQUESTS, after.id, "tongban.approval")
    assert f"{lost} is revoked" in message

    async def opened() -> bool:
        return await count_cases(stack, before.subject) == 1

    await eventually(opened)  # signed before the revocation: it still counts
    assert await count_cases(stack, after.subject) == 0
