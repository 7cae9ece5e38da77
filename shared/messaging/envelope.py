"""CloudEvents 1.0 in Kafka binary mode.

The JSON payload is the record value; `ce_id`, `ce_source`, `ce_type`, `ce_specversion`,
`ce_time`, `ce_subject` and `content-type` are headers; `traceparent` (added by whoever publishes)
carries the trace. Any CloudEvents SDK with Kafka support reads them (contracts/README.md).

Every event crosses this module at least twice, so it writes and reads the binary-mode mapping
itself rather than through the cloudevents SDK, which built an event object, validated and
copied its attributes on every call: the headers are byte for byte the SDK's, in its order
(tests/unit/test_envelope_sdk.py holds them to it, and has the SDK read ours and ours read the
SDK's). The value is the payload in compact UTF-8 JSON (orjson); what a signature covers is not
these bytes but the canonical form of the parsed payload (shared.messaging.signing), so how the
value is spaced or escaped changes no signature.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import orjson

from shared.messaging.events import EVENT_TYPES, EventPayload

Headers = list[tuple[str, bytes]]

SPEC_VERSION = "1.0"
CONTENT_TYPE = "application/json"
# The context attributes a reader requires (CloudEvents 1.0's id, source, type, and the time our
# contract requires of every producer) and the one it takes from the record key when absent.
_REQUIRED = ("id", "source", "type", "time")


class EnvelopeError(ValueError):
    """The record is not a CloudEvent we can read: it is dead-lettered, never retried."""


@dataclass(frozen=True)
class Envelope:
    id: str
    type: str
    source: str
    subject: str
    time: datetime
    data: dict[str, Any]
    extra_headers: dict[str, bytes] = field(default_factory=dict)
    # CloudEvents extensions `signature` and `signer` (headers ce_signature, ce_signer), set by
    # shared.messaging.signing when the event is published.
    signature: str | None = None
    signer: str | None = None

    @classmethod
    def new(cls, payload: EventPayload, *, source: str) -> Envelope:
        return cls(
            id=str(uuid.uuid4()),
            type=payload.event_type,
            source=source,
            subject=payload.subject,
            time=datetime.now(UTC),
            data=payload.model_dump(mode="json"),
        )

    def signed(self, signature: str, signer: str) -> Envelope:
        return replace(self, signature=signature, signer=signer)

    @property
    def key(self) -> str:
        # The application number keys every record, so one application's events stay in order.
        return self.subject

    def payload(self) -> EventPayload:
        """The typed payload for a known type; unknown types raise EnvelopeError."""
        model = EVENT_TYPES.get(self.type)
        if model is None:
            raise EnvelopeError(f"unknown event type {self.type!r}")
        try:
            return model.model_validate(self.data)
        except ValueError as exc:
            raise EnvelopeError(f"payload does not match {self.type}: {exc}") from exc

    def to_kafka(self) -> tuple[bytes, bytes, Headers]:
        """(key, value, headers) for AIOKafkaProducer.send: what the SDK's `to_binary` wrote,
        `content-type` first, then each attribute as `ce_<name>`, then the extra headers."""
        headers: Headers = [
            ("content-type", CONTENT_TYPE.encode()),
            ("ce_id", self.id.encode()),
            ("ce_type", self.type.encode()),
            ("ce_source", self.source.encode()),
            ("ce_subject", self.subject.encode()),
            ("ce_time", self.time.isoformat().encode()),
            ("ce_specversion", SPEC_VERSION.encode()),
        ]
        if self.signature and self.signer:
            headers += [
                ("ce_signature", self.signature.encode()),
                ("ce_signer", self.signer.encode()),
            ]
        headers += self.extra_headers.items()
        return self.key.encode(), orjson.dumps(self.data), headers

    @classmethod
    def from_kafka(cls, key: bytes | None, value: bytes | None, headers: Headers) -> Envelope:
        """The envelope of a record in binary mode; EnvelopeError for anything else."""
        header_map: dict[str, bytes] = {}
        for name, raw in headers:
            header_map.setdefault(name, raw)  # the first occurrence wins, as in propagators
        attributes: dict[str, str] = {}
        extra: dict[str, bytes] = {}
        for name, raw in header_map.items():
            lower = name.lower()
            if lower.startswith("ce_"):
                attributes[lower[3:]] = _decoded(name, raw)
            elif lower != "content-type":
                extra[name] = raw
        if value is None or "id" not in attributes or "type" not in attributes:
            raise EnvelopeError("not a CloudEvent in Kafka binary mode (ce_ headers missing)")
        missing = [name for name in _REQUIRED if not attributes.get(name)]
        if missing:
            # Our contract requires the producer's own time (the SDK would stamp "now").
            raise EnvelopeError(f"CloudEvent has no {', '.join('ce_' + n for n in missing)}")
        if attributes.get("specversion", SPEC_VERSION) != SPEC_VERSION:
            raise EnvelopeError(f"CloudEvents {attributes['specversion']!r} is not read, only 1.0")
        try:
            data = orjson.loads(value)
        except orjson.JSONDecodeError as exc:
            raise EnvelopeError(f"unreadable CloudEvent: the value is not JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise EnvelopeError("CloudEvent data is not a JSON object")
        try:
            time = datetime.fromisoformat(attributes["time"])
        except ValueError as exc:
            raise EnvelopeError("CloudEvent has no valid time") from exc
        return cls(
            id=attributes["id"],
            type=attributes["type"],
            source=attributes["source"],
            subject=attributes.get("subject") or (key or b"").decode(errors="replace"),
            time=time,
            data=data,
            extra_headers=extra,
            signature=attributes.get("signature") or None,
            signer=attributes.get("signer") or None,
        )


def _decoded(name: str, raw: bytes) -> str:
    try:
        return raw.decode()
    except (UnicodeDecodeError, AttributeError) as exc:
        raise EnvelopeError(f"unreadable CloudEvent: the header {name} is not UTF-8 text") from exc
