"""CloudEvents 1.0 in Kafka binary mode.

The JSON payload is the record value; `ce_id`, `ce_source`, `ce_type`, `ce_specversion`,
`ce_time`, `ce_subject` and `content-type` are headers; `traceparent` (added by whoever publishes)
carries the trace. The cloudevents SDK does the header mapping, so third parties using any
CloudEvents SDK read the same thing.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from cloudevents.v1.http import CloudEvent
from cloudevents.v1.kafka import KafkaMessage, from_binary, to_binary

from shared.messaging.events import EVENT_TYPES, EventPayload

Headers = list[tuple[str, bytes]]


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
        """(key, value, headers) for AIOKafkaProducer.send."""
        attributes = {
            "id": self.id,
            "type": self.type,
            "source": self.source,
            "subject": self.subject,
            "time": self.time.isoformat(),
            "specversion": "1.0",
            "datacontenttype": "application/json",
        }
        if self.signature and self.signer:
            attributes |= {"signature": self.signature, "signer": self.signer}
        event = CloudEvent(attributes, self.data)
        message = to_binary(event, key_mapper=lambda _: self.key)
        headers = [(name, value) for name, value in message.headers.items()]
        headers += list(self.extra_headers.items())
        key = message.key.encode() if isinstance(message.key, str) else message.key
        value = message.value.encode() if isinstance(message.value, str) else message.value
        return key or b"", value, headers

    @classmethod
    def from_kafka(cls, key: bytes | None, value: bytes | None, headers: Headers) -> Envelope:
        header_map: dict[str, bytes] = {}
        for name, raw in headers:
            header_map.setdefault(name, raw)  # the first occurrence wins, as in propagators
        if value is None or "ce_id" not in header_map or "ce_type" not in header_map:
            raise EnvelopeError("not a CloudEvent in Kafka binary mode (ce_ headers missing)")
        if "ce_time" not in header_map:
            # The SDK would stamp "now"; our contract requires the producer's own time.
            raise EnvelopeError("CloudEvent has no ce_time header")
        try:
            event = from_binary(
                KafkaMessage(headers=header_map, key=key, value=value),
                event_type=CloudEvent,
                data_unmarshaller=json.loads,
            )
        except Exception as exc:  # the SDK raises several types for malformed input
            raise EnvelopeError(f"unreadable CloudEvent: {exc}") from exc
        data = event.get_data()
        if not isinstance(data, dict):
            raise EnvelopeError("CloudEvent data is not a JSON object")
        try:
            time = datetime.fromisoformat(str(event["time"]))
        except (KeyError, ValueError) as exc:
            raise EnvelopeError("CloudEvent has no valid time") from exc
        extra = {k: v for k, v in header_map.items() if not k.startswith("ce_")}
        extra.pop("content-type", None)
        return cls(
            id=str(event["id"]),
            type=str(event["type"]),
            source=str(event["source"]),
            subject=str(event.get("subject") or (key or b"").decode()),
            time=time,
            data=data,
            extra_headers=extra,
            signature=_text(event.get("signature")),
            signer=_text(event.get("signer")),
        )


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
