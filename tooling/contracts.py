"""The published event contracts: JSON Schemas and an AsyncAPI document under contracts/.

Local approval systems write their Kafka consumers from these files, without our code, so the
files are generated from shared/messaging/events.py (the signature test vectors from
tooling/vectors.py) and committed; a unit test fails when they drift. Regenerate with
`tongban contracts` (or `python -m tooling.contracts`).
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any

from shared.messaging import topics
from shared.messaging.channels import CHANNELS
from shared.messaging.events import EVENT_TYPES, EventPayload
from tooling.vectors import VECTORS_FILE, dump_vectors

REPO_ROOT = Path(__file__).resolve().parents[1]
CONTRACTS_DIR = "contracts"
ASYNCAPI_FILE = "asyncapi.json"
JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"  # what Pydantic emits
# A URN names each schema without promising a URL to fetch it from: nothing is hosted yet.
SCHEMA_ID_PREFIX = "urn:tongban:contracts:events:"
KAFKA_BINDING_VERSION = "0.5.0"


INFO_DESCRIPTION = """\
Events of Tongban, the province-wide "handled anywhere" government service, for local approval
systems and other subscribers. Generated from the code; do not edit by hand.

* **CloudEvents 1.0, Kafka binary mode.** The record value is the JSON payload described by the
  message's schema; the CloudEvents attributes are record headers (`ce_id`, `ce_source`,
  `ce_type`, `ce_specversion`, `ce_time`, `ce_subject`, `content-type`). Any CloudEvents SDK
  reads them. `traceparent` (W3C Trace Context) carries the trace of the citizen's journey.
* **Key and ordering.** The record key is `ce_subject`: the application number (also the
  payload's `application_no`) for every application event, so all events of one application on
  one topic arrive in order; `rule:<item_code>` or `agreement:<id>` on the compacted
  `tongban.routing.rules`; `catalog:<version>` for a published catalog version. There is no
  ordering across topics.
* **At least once; deduplicate by `ce_id`.** An event may arrive more than once (Tongban's outbox
  relay may publish it again; your consumer restarts from its last committed offset). A repeat
  has the same `ce_id`: record the ids you have handled, in the same transaction as your effect,
  skip repeats, and commit offsets only after that transaction.
* **Unknown types.** Select the payload schema by `ce_type`; ignore (and commit past) types you
  do not know. Ignore payload fields you do not know.
* **Compatibility.** Within a type, only optional fields are added. Any other change is a new
  type (`...v2`) published side by side with the old one for a transition period.
* **Dead letters.** A Tongban consumer that cannot read or keeps failing on a record copies it to
  `<topic>.dlq` with the error in `dlq.*` headers and moves on. Subscribers keep their own
  dead letters; they never write to Tongban's topics.
"""


def render_contracts() -> dict[str, str]:
    """Every generated file: path relative to contracts/ -> its text."""
    files = {
        _schema_path(event_type): _dump(_event_schema(event_type, model))
        for event_type, model in EVENT_TYPES.items()
    }
    files[ASYNCAPI_FILE] = _dump(_asyncapi())
    files[VECTORS_FILE] = dump_vectors()
    return dict(sorted(files.items()))


def write_contracts(root: Path) -> list[Path]:
    """Write the generated files under root/contracts and drop generated ones no longer made."""
    directory = root / CONTRACTS_DIR
    rendered = render_contracts()
    for relative in _generated_on_disk(directory) - rendered.keys():
        (directory / relative).unlink()
    written = []
    for relative, text in rendered.items():
        path = directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8", newline="\n")
        written.append(path)
    return written


def stale_contracts(root: Path) -> list[str]:
    """Paths under contracts/ that are missing, differ from the code, or are no longer made."""
    directory = root / CONTRACTS_DIR
    rendered = render_contracts()
    stale = _generated_on_disk(directory) - rendered.keys()
    for relative, text in rendered.items():
        path = directory / relative
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            stale.add(relative)
    return sorted(stale)


def _generated_on_disk(directory: Path) -> set[str]:
    # Only JSON is generated; README.md and anything else there is written by hand.
    return {path.relative_to(directory).as_posix() for path in directory.rglob("*.json")}


def _dump(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _schema_path(event_type: str) -> str:
    return f"events/{event_type}.schema.json"


def _description(model: type[EventPayload], event_type: str) -> str:
    # Only the class's own docstring: an inherited one describes the parent, not this event.
    doc = model.__dict__.get("__doc__")
    return inspect.cleandoc(doc) if doc else f"Payload of {event_type} events."


def _event_schema(event_type: str, model: type[EventPayload]) -> dict[str, Any]:
    # Serialization mode: the schema of what producers write, which is what subscribers read.
    schema = model.model_json_schema(mode="serialization")
    return {
        **schema,
        "$schema": JSON_SCHEMA_DIALECT,
        "$id": f"{SCHEMA_ID_PREFIX}{event_type}",
        "title": event_type,
        "description": _description(model, event_type),
    }


def _asyncapi() -> dict[str, Any]:
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for channel in CHANNELS:
        channels[channel.id] = {
            "address": channel.address,
            "description": channel.description,
            **(
                {
                    "bindings": {
                        "kafka": {
                            "topicConfiguration": {"cleanup.policy": ["compact"]},
                            "bindingVersion": KAFKA_BINDING_VERSION,
                        }
                    }
                }
                if channel.compacted
                else {}
            ),
            "messages": {
                event_type: {"$ref": f"#/components/messages/{event_type}"}
                for event_type in channel.event_types
            },
        }
        operations[f"{channel.producer}PublishesTo{channel.id[0].upper()}{channel.id[1:]}"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{channel.id}"},
            "summary": f"The {channel.producer} service publishes to {channel.address}.",
            "messages": [
                {"$ref": f"#/channels/{channel.id}/messages/{event_type}"}
                for event_type in channel.event_types
            ],
        }
    channels["approvalRequests"]["parameters"] = {
        "locality": {
            "description": "The competent locality: its 6-digit administrative division code "
            "(GB/T 2260).",
            "examples": ["340102"],
        }
    }
    channels["deadLetters"] = {
        "address": "{topic}" + topics.DEAD_LETTER_SUFFIX,
        "description": "Records a Tongban consumer could not read or kept failing on, copied "
        "unchanged (key, value, original headers) with the error in dlq.* headers. For "
        "operators; subscribers keep their own dead letters.",
        "parameters": {
            "topic": {
                "description": "The topic the record was read from, e.g. tongban.intake.events."
            }
        },
        "messages": {"DeadLetter": {"$ref": "#/components/messages/DeadLetter"}},
    }
    operations["consumersDeadLetter"] = {
        "action": "send",
        "channel": {"$ref": "#/channels/deadLetters"},
        "summary": "Tongban's consumers park records they cannot process.",
        "messages": [{"$ref": "#/channels/deadLetters/messages/DeadLetter"}],
    }
    messages = {
        event_type: _message(event_type, model) for event_type, model in EVENT_TYPES.items()
    }
    messages["DeadLetter"] = _dead_letter_message()
    return {
        "asyncapi": "3.0.0",
        "info": {"title": "Tongban events", "version": "1.0.0", "description": INFO_DESCRIPTION},
        "defaultContentType": "application/json",
        "servers": {
            "local": {
                "host": "127.0.0.1:9092",
                "protocol": "kafka",
                "description": "Local development broker (KAFKA_BOOTSTRAP_SERVERS may name "
                "another). Production addresses are not part of this document.",
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {"schemas": {"CloudEventHeaders": _headers_schema()}, "messages": messages},
    }


def _key_binding(description: str) -> dict[str, Any]:
    return {
        "kafka": {
            "key": {"type": "string", "description": description},
            "bindingVersion": KAFKA_BINDING_VERSION,
        }
    }


def _message(event_type: str, model: type[EventPayload]) -> dict[str, Any]:
    description = _description(model, event_type)
    return {
        "name": event_type,
        "title": model.__name__,
        "description": description,
        "contentType": "application/json",
        "headers": {
            "allOf": [
                {"$ref": "#/components/schemas/CloudEventHeaders"},
                {"type": "object", "properties": {"ce_type": {"const": event_type}}},
            ]
        },
        # The payload schema lives in its own file, so a subscriber can use it on its own.
        "payload": {"$ref": f"./{_schema_path(event_type)}"},
        "bindings": _key_binding(
            "The event's subject: the application number for application events (its events "
            "stay in order), otherwise the state's key (rule:, agreement:, catalog:)."
        ),
    }


def _headers_schema() -> dict[str, Any]:
    def text(description: str, **extra: Any) -> dict[str, Any]:
        return {"type": "string", "description": description, **extra}

    return {
        "type": "object",
        "description": "Kafka record headers, UTF-8 text. Other headers (tracestate, baggage) "
        "may appear: ignore those you do not use.",
        "required": [
            "ce_id",
            "ce_source",
            "ce_type",
            "ce_specversion",
            "ce_time",
            "ce_subject",
            "content-type",
        ],
        "properties": {
            "ce_id": text("Event id, unique per event; a redelivery keeps it. Deduplicate on it."),
            "ce_source": text(
                "The publishing service, /tongban/<service>.", examples=["/tongban/routing"]
            ),
            "ce_type": text("The event type; selects the payload schema."),
            "ce_specversion": text("CloudEvents version.", const="1.0"),
            "ce_time": text(
                "When the change the event announces was recorded (RFC 3339).", format="date-time"
            ),
            "ce_subject": text(
                "What the event is about (the application number, or the state's key); equal "
                "to the record key."
            ),
            "content-type": text("Media type of the record value.", const="application/json"),
            "traceparent": text("W3C Trace Context of the journey; continue it to join the trace."),
        },
    }


def _dead_letter_message() -> dict[str, Any]:
    dlq_headers = {
        "dlq.error.type": "Exception class of the failure.",
        "dlq.error.message": "The error, personal data masked, at most 1000 characters.",
        "dlq.consumer": "The Tongban consumer that gave up.",
        "dlq.attempts": "Attempts made, as a decimal number (0: the record was unreadable).",
        "dlq.original.topic": "The topic the record was read from.",
        "dlq.original.partition": "Its partition, as a decimal number.",
        "dlq.original.offset": "Its offset, as a decimal number.",
    }
    return {
        "name": "DeadLetter",
        "title": "Dead letter",
        "summary": "A record a Tongban consumer could not process, with the reason.",
        "headers": {
            "type": "object",
            "description": "The record's original headers (ce_* when it was a CloudEvent), then "
            "these.",
            "required": sorted(dlq_headers),
            "properties": {
                name: {"type": "string", "description": description}
                for name, description in dlq_headers.items()
            },
        },
        "contentType": "application/octet-stream",  # whatever the original record held
        "payload": {"description": "The original record value, byte for byte; may not be JSON."},
        "bindings": _key_binding("The original record key."),
    }


if __name__ == "__main__":
    for written_path in write_contracts(REPO_ROOT):
        print(written_path.relative_to(REPO_ROOT))
