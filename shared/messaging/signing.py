"""Signed events: who may state what, the bytes a signature covers, signing and checking.

Every event carries two CloudEvents extension attributes (Kafka headers `ce_signature` and
`ce_signer`): an SM2 signature with SM3 (raw r‖s, base64) over the event's canonical bytes, and
the key id that made it (`routing#1`, `seal-340100#2`). Public keys are in the trust list the
province key authority signs (shared.crypto.trust; `GET /v1/keys` on every service); a key
verifies nothing whose `ce_time` is at or after its revocation, or after its retirement.
contracts/SIGNATURES.md tells a third party how to check one.

Authority, declared once (`required_signer`): an event is signed by the service that produces
its channel (ARCHITECTURE.md's topic table), except that what a locality's approval states
(decisions, cases opened, transferred, supplements requested...) is signed with that locality's
electronic seal, `seal-<locality>`: an approval instance holds only the seals of the localities
it serves. Which payload field names that locality is declared per event type (`SPEAKS_FOR`:
a transfer speaks for its `from_locality`, never for anything else it carries), and an event
type approval publishes without a declaration is refused. The seal says who states a fact;
whether that locality may state it for this application (is it the competent one?) is each
consumer's check against routing's facts. On a per-locality request topic the application's
competent locality must be the topic's own.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections import OrderedDict
from typing import Any

from shared.canonical import NotCanonical, canonical_json
from shared.crypto.keyring import KeyRing, key_name
from shared.messaging import events
from shared.messaging.channels import Channel, channel_of
from shared.messaging.envelope import Envelope, EnvelopeError
from shared.messaging.events import EventPayload

# For each event type approval publishes, the one payload field naming the locality whose seal
# alone may sign it (the locality on whose behalf it is stated). Signed payloads refuse fields
# their model does not declare (shared.messaging.events), so no other field can be slipped in.
SPEAKS_FOR: dict[type[EventPayload], str] = {
    events.CaseOpened: "locality",
    events.CaseDeadlineWarning: "locality",
    events.CaseOverdue: "locality",
    events.CaseSupplementRequested: "locality",
    events.CaseResumed: "locality",
    events.CaseWithdrawn: "locality",
    events.CaseDeferredReminder: "locality",
    # 移交: the locality that gives the case up states it; where it goes is what it says.
    events.CaseTransferred: "from_locality",
    events.MaterialRead: "locality",
    events.ScanRequested: "locality",
    events.CaseViewed: "locality",
    events.ApplicationApproved: "locality",
    events.ApplicationRejected: "locality",
    events.CertificateIssued: "locality",
    events.CertificateRevoked: "locality",
    events.RejectionNoticeIssued: "locality",
}
_SPEAKS_FOR_BY_TYPE = {model.event_type: field for model, field in SPEAKS_FOR.items()}


class UntrustedEvent(EnvelopeError):
    """Unsigned, forged, signed by a key without the authority, or claiming a locality the
    topic does not belong to: dead-lettered with this reason, never retried, no effect."""


def canonical_bytes(envelope: Envelope) -> bytes:
    """What a signature covers: the RFC 8785 (JCS) bytes of the JSON array
    [id, type, source, subject, time, data], with `time` exactly as in `ce_time`
    (contracts/SIGNATURES.md, contracts/vectors/signatures.json). NotCanonical for data Tongban
    does not sign (a float, an integer beyond ±(2^53 - 1))."""
    document = [
        envelope.id,
        envelope.type,
        envelope.source,
        envelope.subject,
        envelope.time.isoformat(),
        envelope.data,
    ]
    return canonical_json(document)


def _channel(topic: str) -> Channel:
    try:
        return channel_of(topic)
    except LookupError as exc:
        raise UntrustedEvent(f"no channel is declared for topic {topic}") from exc


def required_signer(channel: Channel, event_type: str, data: dict[str, Any]) -> str:
    """The key name that alone may sign an event of `event_type` on this channel."""
    if channel.producer != "approval":
        return channel.producer
    field = _SPEAKS_FOR_BY_TYPE.get(event_type)
    if field is None:
        raise UntrustedEvent(f"no locality is declared to speak for {event_type} on {channel.id}")
    locality = data.get(field)
    if not isinstance(locality, str) or not locality:
        raise UntrustedEvent(f"{event_type} names no locality in {field!r}")
    return f"seal-{locality}"


class KnownSignatures:
    """Signatures this process made or already checked, each with a digest of the bytes it
    covers. An event is often read more than once by one process (routing reads what it
    publishes, and its audit ledger reads everything its other consumers read); an SM2
    verification costs about half a millisecond, a SHA-256 of the same bytes microseconds.
    Only the very bytes that were signed or verified match."""

    def __init__(self, size: int = 16384) -> None:
        self.size = size
        self._entries: OrderedDict[tuple[str, str, bytes], None] = OrderedDict()

    @staticmethod
    def key(signer: str, signature: str, message: bytes) -> tuple[str, str, bytes]:
        return signer, signature, hashlib.sha256(message).digest()

    def add(self, key: tuple[str, str, bytes]) -> None:
        self._entries[key] = None
        self._entries.move_to_end(key)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)

    def __contains__(self, key: object) -> bool:
        return key in self._entries


class EventSigner:
    """Signs what a service publishes, with the key the authority table names."""

    def __init__(self, ring: KeyRing, known: KnownSignatures | None = None) -> None:
        self.ring = ring
        self.known = known

    def sign(self, envelope: Envelope, topic: str) -> Envelope:
        signer = self.ring.signer(required_signer(_channel(topic), envelope.type, envelope.data))
        message = canonical_bytes(envelope)
        signature = base64.b64encode(signer.sign(message)).decode("ascii")
        if self.known is not None:
            self.known.add(KnownSignatures.key(signer.kid, signature, message))
        return envelope.signed(signature, signer.kid)


class EventVerifier:
    """Checks an event before any effect: the signature, and the signer's authority."""

    def __init__(self, ring: KeyRing, known: KnownSignatures | None = None) -> None:
        self.ring = ring
        self.known = known

    def verify(self, envelope: Envelope, topic: str) -> None:
        if not envelope.signature or not envelope.signer:
            raise UntrustedEvent("the event is not signed (no ce_signature / ce_signer)")
        channel = _channel(topic)
        wanted = required_signer(channel, envelope.type, envelope.data)
        if key_name(envelope.signer) != wanted:
            raise UntrustedEvent(
                f"{envelope.type} on {topic} must be signed by {wanted}, "
                f"not {key_name(envelope.signer)}"
            )
        locality = channel.locality_of(topic)
        if locality is not None and envelope.data.get(channel.locality_field or "") != locality:
            raise UntrustedEvent(
                f"the application's competent locality is not {locality}, whose topic it is on"
            )
        try:
            message = canonical_bytes(envelope)
        except NotCanonical as exc:
            # No Tongban producer signs such data (a float, a huge integer): refused like a bad
            # signature, dead-lettered, rather than stopping the consumer at every redelivery.
            raise UntrustedEvent(f"the event carries data Tongban does not sign: {exc}") from exc
        known = KnownSignatures.key(envelope.signer, envelope.signature, message)
        if self.known is not None and known in self.known:
            return
        key = self.ring.public_key(envelope.signer)
        if key is None:
            raise UntrustedEvent(f"unknown signing key {envelope.signer}")
        try:
            signature = base64.b64decode(envelope.signature, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise UntrustedEvent("the signature is not base64") from exc
        if not key.usable(envelope.time):
            # A stolen key cannot speak past its revocation, a rotated one past its retirement.
            raise UntrustedEvent(
                f"{envelope.signer} is {key.status} as of "
                f"{(key.revoked_at or key.retired_at or envelope.time).isoformat()}, "
                f"before the event's time {envelope.time.isoformat()}"
            )
        if not key.verify(message, signature):
            raise UntrustedEvent(f"the signature does not verify with {envelope.signer}")
        if self.known is not None:
            self.known.add(known)
