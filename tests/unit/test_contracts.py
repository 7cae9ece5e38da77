"""The published event contracts under contracts/: up to date, complete and self-consistent."""

from __future__ import annotations

import importlib
import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

from shared.messaging import events
from shared.messaging.events import EVENT_TYPES
from tooling.contracts import render_contracts, stale_contracts, write_contracts
from tooling.vectors import VECTORS_FILE

REPO_ROOT = Path(__file__).resolve().parents[2]
ASYNCAPI = "asyncapi.json"

# jsonschema is not a dependency: validate with it when someone has it, else check structure.
_jsonschema = (
    importlib.import_module("jsonschema") if importlib.util.find_spec("jsonschema") else None
)

# Minimal valid payloads: required fields only, so a new required field breaks the sample.
_APPLICANT = {
    "kind": "person",
    "name": "张三",
    "id_type": "resident_id",
    "id_number": "11010519491231002X",  # the worked example printed in GB 11643
    "phone": "13800000000",
    "locality": "340102",
}
_ACCEPTED = {
    "application_no": "TB340102-20250106-000001",
    "item_code": "340000-HJ-001",
    "item_name": "户口迁移",
    "applicant": _APPLICANT,
    "receiving_locality": "340102",
    "window_id": "340102-W01",
    "competent_locality": "340102",
    "department": "公安局",
    "materials": [{"material_code": "M01", "sha256": "0" * 64}],
    "delivery": {"method": "window_pickup"},
    "accepted_at": "2025-01-06T09:30:00+08:00",
    "promised_date": "2025-01-20",
    "statutory_days": 20,
    "promised_days": 10,
}
_DECIDED = {
    "application_no": _ACCEPTED["application_no"],
    "locality": "340102",
    "item_code": _ACCEPTED["item_code"],
    "decided_at": "2025-01-08T15:00:00+08:00",
    "receiving_locality": "340102",
    "window_id": "340102-W01",
    "holder_name_masked": "张*",
    "holder_id_digest": "0" * 64,
    "delivery": {
        "method": "postal",
        "address": {
            "recipient": "张三",
            "phone": "13800000000",
            "locality": "340102",
            "line": "某路 1 号",
        },
    },
}
_SUPPLEMENTED = {
    "application_no": _ACCEPTED["application_no"],
    "item_code": _ACCEPTED["item_code"],
    "materials": [{"material_code": "M02", "sha256": "1" * 64}],
    "receiving_locality": "341200",
    "window_id": "W341200-01",
    "competent_locality": "340102",
    "supplemented_at": "2025-01-10T09:00:00+08:00",
}
_PUBLISHED_DOCUMENT = {
    "content": {
        "format": "tongban.certificate.v1",
        "number": "340102-2025-000001",
        "application_no": "AP20250106000001",
        "item_code": "GA-HJ-001",
        "item_name": "户口迁移",
        "holder_id_digest": "ab" * 32,
        "issuer_locality": "340102",
        "issuer_department": "公安局",
        "issued_on": "2025-01-08",
        "valid_until": None,
    },
    "holder_name_masked": "张*",
    "holder_name": {"recipient": "sealing-delivery#1", "key": "AAAA", "ciphertext": "AAAA"},
    "seal": {"signer": "seal-340102#1", "algorithm": "SM2-SM3", "signature": "A" * 86 + "=="},
}

# 视频会商: a 阜阳 window asks 合肥's reviewers (services/consultation).
_CONSULTATION: dict[str, Any] = {
    "consultation_id": "VC3F2A9C0D4E5B6A7980112233",
    "application_no": "TB3412002025010600001",
    "item_code": "GA-HJ-001",
    "locality": "340100",
    "window_id": "W341200-03",
}
_CLERK = {
    "sub": "clerk-01",
    "role": "window_clerk",
    "locality": "341200",
    "window_id": "W341200-03",
}
_REVIEWER = {"sub": "approver-01", "role": "approver", "locality": "340100"}
_AT = "2025-01-07T10:15:00+08:00"
_BUNDLE_ENDED = "一件事申请 YJS341200202501070001 终止：必办事项城乡居民医保参保登记不予许可。"
_WITHDRAWN = {
    "application_no": _ACCEPTED["application_no"],
    "item_code": _ACCEPTED["item_code"],
    "bundle_no": "YJS341200202501070001",
    "reason": _BUNDLE_ENDED,
    "receiving_locality": "341200",
    "competent_locality": "340102",
    "withdrawn_at": "2025-01-10T09:00:00+08:00",
}

SAMPLES: dict[str, dict[str, Any]] = {
    events.ApplicationAccepted.event_type: _ACCEPTED,
    events.ApplicationRouted.event_type: {**_ACCEPTED, "routed_at": "2025-01-06T09:30:05+08:00"},
    events.ApplicationHandedOver.event_type: {
        **_ACCEPTED,
        "competent_locality": "320100",
        "partner_province": "32",
        "national_code": "000111012000",
        "routed_at": "2025-01-06T09:30:05+08:00",
    },
    events.PartnerApplicationReceived.event_type: {
        **_ACCEPTED,
        "receiving_locality": "320102",
        "from_province": "32",
        "national_code": "000111012000",
        "message_id": "3f2b8c1e-8a4e-4c57-9d0b-1b2c3d4e5f60",
        "received_at": "2025-01-06T09:30:07+08:00",
    },
    events.PartnerResultReceived.event_type: {
        "application_no": _ACCEPTED["application_no"],
        "from_province": "32",
        "message_type": "application.approved",
        "status": "approved",
        "locality": "320100",
        "message_id": "3f2b8c1e-8a4e-4c57-9d0b-1b2c3d4e5f60",
        "received_at": "2025-01-06T09:30:07+08:00",
    },
    events.PartnerCertificateReceived.event_type: {
        "application_no": _ACCEPTED["application_no"],
        "from_province": "32",
        "locality": "320100",
        "certificate_no": "320100-2025-000001",
        "item_code": "JS-GA-0101",
        "issued_on": "2025-01-08",
        "valid_until": None,
        "document": _PUBLISHED_DOCUMENT,
        "seal_key": {
            "kid": "seal-320100#1",
            "locality": "320100",
            "algorithm": "SM2-SM3",
            "public_key": "B" * 87 + "=",
            "revoked_at": None,
        },
        "message_id": "3f2b8c1e-8a4e-4c57-9d0b-1b2c3d4e5f60",
        "received_at": "2025-01-08T10:00:07+08:00",
    },
    events.DeliveryExpected.event_type: {
        "application_no": _ACCEPTED["application_no"],
        "partner_province": "32",
        "competent_locality": "320100",
        "receiving_locality": "341200",
        "window_id": "W341200-01",
        "item_code": "GA-HJ-001",
        "item_name": "户口迁移",
        "holder_name_masked": "张*",
        "agent_name_masked": None,
        "delivery": {"method": "window_pickup"},
        "personal_data": {"recipient": "sealing-delivery#1", "key": "AAAA", "ciphertext": "AAAA"},
        "expected_at": "2025-01-06T09:30:05+08:00",
    },
    events.FederationMessageLogged.event_type: {
        "direction": "sent",
        "message_id": "3f2b8c1e-8a4e-4c57-9d0b-1b2c3d4e5f60",
        "message_type": "application.handed_over",
        "application_no": _ACCEPTED["application_no"],
        "from_province": "34",
        "to_province": "32",
        "signed_time": "2025-01-06T09:30:06+08:00",
        "signer": "federation#1",
        "signature": "A" * 86 + "==",
        "body_sm3": "0" * 64,
        "logged_at": "2025-01-06T09:30:07+08:00",
    },
    events.ApplicationEvaluated.event_type: {
        "application_no": _ACCEPTED["application_no"],
        "item_code": _ACCEPTED["item_code"],
        "receiving_locality": "340102",
        "window_id": "340102-W01",
        "competent_locality": "340102",
        "score": 5,
        "has_comment": False,
        "evaluated_at": "2025-01-09T10:05:00+08:00",
    },
    events.Routed.event_type: {
        "application_no": _ACCEPTED["application_no"],
        "competent_locality": "340100",
        "department": "公安局",
        "receiving_locality": "340102",
        "routed_at": "2025-01-06T09:30:05+08:00",
    },
    events.Unroutable.event_type: {
        "application_no": _ACCEPTED["application_no"],
        "reason": "right_revoked",
        "message": "Windows of 340102 held no accept right when the application was accepted.",
        "receiving_locality": "340102",
        "decided_at": "2025-01-06T09:30:05+08:00",
    },
    events.JurisdictionRuleState.event_type: {
        "item_code": "GA-HJ-001",
        "jurisdiction": "household",
        "competent_level": "city",
        "department": "公安局",
    },
    events.TrustAgreementState.event_type: {
        "agreement_id": "5b0c1a9e-7f7e-4a53-9d7c-2f7a2b7f1a10",
        "grantor_locality": "340100",
        "grantee_locality": "*",
        "item_codes": ["*"],
        "rights": ["accept"],
    },
    events.CatalogPublished.event_type: {
        "version": "2026.1",
        "published_at": "2026-01-05T09:00:00+08:00",
        "rules": [
            {
                "item_code": "GA-HJ-001",
                "jurisdiction": "household",
                "competent_level": "city",
                "department": "公安局",
            }
        ],
    },
    events.CaseOpened.event_type: {
        "application_no": _ACCEPTED["application_no"],
        "locality": "340102",
        "deadline": "2025-01-20",
        "opened_at": "2025-01-06T09:31:00+08:00",
    },
    events.CaseDeadlineWarning.event_type: {
        "application_no": _ACCEPTED["application_no"],
        "locality": "340102",
        "deadline": "2025-02-10",
        "working_days": 20,
        "used_working_days": 15,
        "warned_at": "2025-01-28T00:00:01+08:00",
    },
    events.CaseOverdue.event_type: {
        "application_no": _ACCEPTED["application_no"],
        "locality": "340102",
        "deadline": "2025-02-10",
        "overdue_at": "2025-02-11T00:00:01+08:00",
    },
    events.ApplicationApproved.event_type: {
        **_DECIDED,
        "certificate_no": "340102-2025-000001",
        "item_name": "户口迁移",
    },
    events.ApplicationRejected.event_type: {**_DECIDED, "reason": "材料不符"},
    events.CertificateReadyForPickup.event_type: {
        "application_no": _ACCEPTED["application_no"],
        "certificate_no": "340102-2025-000001",
        "window_id": "340102-W01",
        "locality": "340102",
        "queued_at": "2025-01-08T15:01:00+08:00",
    },
    events.CertificateDelivered.event_type: {
        "application_no": _ACCEPTED["application_no"],
        "certificate_no": "340102-2025-000001",
        "locality": "340102",
        "delivered_at": "2025-01-09T10:00:00+08:00",
        "channel": "window",
    },
    events.CertificateDispatched.event_type: {
        "application_no": _ACCEPTED["application_no"],
        "certificate_no": "340102-2025-000001",
        "locality": "340102",
        "carrier": "sim-post",
        "tracking_no": "SP000000001CN",
        "dispatched_at": "2025-01-08T16:00:00+08:00",
    },
    events.CertificateInTransit.event_type: {
        "application_no": _ACCEPTED["application_no"],
        "certificate_no": "340102-2025-000001",
        "locality": "340102",
        "tracking_no": "SP000000001CN",
        "carrier_event": "in_transit",
        "at": "2025-01-08T18:00:00+08:00",
    },
    events.CertificateIssued.event_type: {
        "application_no": _ACCEPTED["application_no"],
        "locality": "340102",
        "certificate_no": "340102-2025-000001",
        "item_code": "GA-HJ-001",
        "holder_id_digest": "ab" * 32,
        "issued_on": "2025-01-08",
        "valid_until": None,
        "document": _PUBLISHED_DOCUMENT,
    },
    events.CertificateRevoked.event_type: {
        "application_no": _ACCEPTED["application_no"],
        "locality": "340102",
        "certificate_no": "340102-2025-000001",
        "reason": "以欺骗手段取得",
        "revoked_by": "approver-340102",
        "revoked_at": "2025-02-01T09:00:00+08:00",
    },
    events.RejectionNoticeIssued.event_type: {
        "application_no": _ACCEPTED["application_no"],
        "locality": "340102",
        "notice_no": "BY3401022025000001",
        "item_code": "GA-HJ-001",
        "issued_on": "2025-01-08",
        "document": _PUBLISHED_DOCUMENT,
    },
    events.ApplicationSupplemented.event_type: _SUPPLEMENTED,
    events.SupplementRouted.event_type: {
        **_SUPPLEMENTED,
        "routed_at": "2025-01-10T09:00:05+08:00",
    },
    events.ApplicationWithdrawn.event_type: _WITHDRAWN,
    events.WithdrawalRouted.event_type: {**_WITHDRAWN, "routed_at": "2025-01-10T09:00:05+08:00"},
    events.BundleCompleted.event_type: {
        "bundle_no": "YJS341200202501070001",
        "bundle_id": "YJS-XSECS",
        "receiving_locality": "341200",
        "window_id": "W341200-01",
        "members": ["TB341200202501070001", "TB341200202501070002"],
        "completed_at": "2025-01-20T10:00:00+08:00",
    },
    events.CaseWithdrawn.event_type: {
        "application_no": _ACCEPTED["application_no"],
        "locality": "340102",
        "reason": _BUNDLE_ENDED,
        "withdrawn_at": "2025-01-10T09:01:00+08:00",
    },
    events.Transferred.event_type: {
        "application_no": _ACCEPTED["application_no"],
        "from_locality": "340100",
        "competent_locality": "340200",
        "department": "公安局",
        "reason": "户籍已迁至芜湖",
        "routed_at": "2025-01-07T10:00:00+08:00",
    },
    events.CaseSupplementRequested.event_type: {
        "application_no": _ACCEPTED["application_no"],
        "locality": "340102",
        "materials": ["M02"],
        "reason": "户口簿复印件不清晰",
        "requested_at": "2025-01-07T10:00:00+08:00",
    },
    events.CaseResumed.event_type: {
        "application_no": _ACCEPTED["application_no"],
        "locality": "340102",
        "deadline": "2025-01-24",
        "paused_working_days": 3,
        "resumed_at": "2025-01-10T09:01:00+08:00",
    },
    events.CaseDeferredReminder.event_type: {
        "application_no": _ACCEPTED["application_no"],
        "locality": "340102",
        "materials": ["M02"],
        "due_on": "2025-01-13",
        "reminded_at": "2025-01-10T00:00:01+08:00",
    },
    events.CaseTransferred.event_type: {
        "application_no": _ACCEPTED["application_no"],
        "from_locality": "340100",
        "to_locality": "340200",
        "reason": "户籍已迁至芜湖",
        "transferred_by": "approver-340100",
        "transferred_at": "2025-01-07T09:59:00+08:00",
    },
    events.MaterialRead.event_type: {
        "application_no": _ACCEPTED["application_no"],
        "locality": "340102",
        "sha256": "0" * 64,
        "read_by": "approver-340102",
        "read_at": "2025-01-07T09:00:00+08:00",
    },
    events.ScanRequested.event_type: {
        "application_no": _ACCEPTED["application_no"],
        "locality": "340102",
        "sha256": "0" * 64,
        "partner_province": "32",
        "requested_by": "approver-340102",
        "requested_at": "2025-01-07T09:00:00+08:00",
    },
    events.ScanReceived.event_type: {
        "application_no": _ACCEPTED["application_no"],
        "sha256": "0" * 64,
        "size": 48213,
        "content_type": "application/pdf",
        "from_province": "32",
        "message_id": "8d0f3b0e-4c1a-5e8f-9b7a-2f4d6c8e0a13",
        "received_at": "2025-01-07T09:00:02+08:00",
    },
    events.CaseViewed.event_type: {
        "application_no": _ACCEPTED["application_no"],
        "locality": "340102",
        "viewed_by": "approver-340102",
        "viewer_locality": "340100",
        "viewed_at": "2025-01-07T08:59:00+08:00",
    },
    events.LedgerCheckpoint.event_type: {
        "seq": 42,
        "hash": "ab" * 32,
        "at": "2025-01-07T09:00:10.000123Z",
        "signer": "routing#1",
        "signature": "A" * 86 + "==",
    },
    **{
        model.event_type: {**_CONSULTATION, **extra}
        for model, extra in (
            (
                events.ConsultationOpened,
                {"opened_by": _CLERK, "opened_at": _AT, "topic": "户口簿复印件是否可用"},
            ),
            (events.ConsultationJoined, {"party": _REVIEWER, "at": _AT}),
            (events.ConsultationLeft, {"party": _REVIEWER, "at": _AT, "reason": "hangup"}),
            (
                events.ConsultationEnded,
                {"ended_by": "clerk-01", "ended_at": _AT, "in_call_seconds": 95},
            ),
            (
                events.MaterialVerifiedByVideo,
                {"material_code": "M01", "verified_by": _REVIEWER, "verified_at": _AT},
            ),
            (
                events.ConsultationRecorded,
                {
                    "blob": "cd" * 32,
                    "sm3": "ef" * 32,
                    "size_bytes": 1_048_576,
                    "duration_seconds": 95,
                    "parties": [_CLERK, _REVIEWER],
                    "recorded_at": _AT,
                    "retained_until": "2025-07-06",
                },
            ),
        )
    },
}


def _schema_path(event_type: str) -> str:
    return f"events/{event_type}.schema.json"


def _refs(node: Any) -> list[str]:
    """Every "$ref" value in a JSON document."""
    if isinstance(node, dict):
        own = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return own + [ref for value in node.values() for ref in _refs(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in _refs(value)]
    return []


def _resolve(document: Any, fragment: str) -> Any:
    """Follow a JSON Pointer fragment ("#/a/b") inside `document`; KeyError if it dangles."""
    node = document
    for token in fragment.removeprefix("#").split("/")[1:]:
        node = node[token.replace("~1", "/").replace("~0", "~")]
    return node


def test_committed_contracts_are_up_to_date() -> None:
    stale = stale_contracts(REPO_ROOT)
    assert stale == [], (
        f"contracts/ does not match shared/messaging/events.py (stale: {', '.join(stale)}). "
        "Run `tongban contracts` (or `make contracts`) and commit the result."
    )


def test_rendering_is_deterministic_json() -> None:
    rendered = render_contracts()
    assert rendered == render_contracts()
    assert list(rendered) == sorted(rendered)
    for path, text in rendered.items():
        assert text.endswith("}\n"), path
        expected = json.dumps(json.loads(text), indent=2, sort_keys=True, ensure_ascii=False)
        assert text == expected + "\n", path


def test_every_event_type_has_a_schema_and_a_message() -> None:
    rendered = render_contracts()
    asyncapi = json.loads(rendered[ASYNCAPI])
    messages = asyncapi["components"]["messages"]
    for event_type, model in EVENT_TYPES.items():
        schema = json.loads(rendered[_schema_path(event_type)])
        assert schema["title"] == event_type
        assert schema["description"]
        assert schema["$id"].endswith(event_type)
        message = messages[event_type]
        assert message["name"] == event_type
        assert message["title"] == model.__name__
        assert message["payload"] == {"$ref": f"./{_schema_path(event_type)}"}
    assert set(rendered) == {ASYNCAPI, VECTORS_FILE} | {_schema_path(t) for t in EVENT_TYPES}


def test_every_event_type_is_published_on_exactly_one_channel() -> None:
    asyncapi = json.loads(render_contracts()[ASYNCAPI])
    published = [
        name
        for channel in asyncapi["channels"].values()
        for name in channel["messages"]
        if name != "DeadLetter"
    ]
    assert sorted(published) == sorted(EVENT_TYPES)
    sent = [
        ref["$ref"].rsplit("/", 1)[-1]
        for operation in asyncapi["operations"].values()
        if operation["action"] == "send"
        for ref in operation["messages"]
    ]
    assert set(EVENT_TYPES) <= set(sent)


def test_asyncapi_document_shape() -> None:
    asyncapi = json.loads(render_contracts()[ASYNCAPI])
    assert asyncapi["asyncapi"] == "3.0.0"
    assert asyncapi["info"]["title"] == "Tongban events"
    assert asyncapi["info"]["version"] == "1.0.0"
    assert asyncapi["servers"]["local"] == {
        "host": "127.0.0.1:9092",
        "protocol": "kafka",
        "description": asyncapi["servers"]["local"]["description"],
    }
    addresses = {channel["address"] for channel in asyncapi["channels"].values()}
    assert addresses == {
        "tongban.intake.events",
        "tongban.approval.requests.{locality}",
        "tongban.approval.events",
        "tongban.delivery.events",
        "tongban.routing.events",
        "tongban.routing.rules",
        "tongban.audit.checkpoints",
        "tongban.consultation.events",
        "tongban.federation.outgoing",
        "tongban.federation.events",
        "tongban.federation.incoming",
        "tongban.federation.results",
        "{topic}.dlq",
    }
    # Every {parameter} in an address is declared, and nothing else.
    for channel in asyncapi["channels"].values():
        declared = set(channel.get("parameters", {}))
        named = {part.split("}")[0] for part in channel["address"].split("{")[1:]}
        assert declared == named, channel["address"]
    headers = asyncapi["components"]["schemas"]["CloudEventHeaders"]
    assert set(headers["required"]) == {
        "ce_id",
        "ce_source",
        "ce_type",
        "ce_specversion",
        "ce_time",
        "ce_subject",
        "content-type",
    }
    assert "traceparent" in headers["properties"]
    dead_letter_headers = asyncapi["components"]["messages"]["DeadLetter"]["headers"]
    assert set(dead_letter_headers["required"]) == {
        "dlq.error.type",
        "dlq.error.message",
        "dlq.consumer",
        "dlq.attempts",
        "dlq.original.topic",
        "dlq.original.partition",
        "dlq.original.offset",
    }


def test_every_reference_resolves() -> None:
    rendered = render_contracts()
    asyncapi = json.loads(rendered[ASYNCAPI])
    for ref in _refs(asyncapi):
        if ref.startswith("#"):
            _resolve(asyncapi, ref)
        else:
            # A payload schema file next to asyncapi.json.
            assert ref.removeprefix("./") in rendered, ref
    for path, text in rendered.items():
        if path != ASYNCAPI:
            schema = json.loads(text)
            for ref in _refs(schema):
                assert ref.startswith("#/$defs/"), (path, ref)
                _resolve(schema, ref)


def test_samples_cover_every_event_type() -> None:
    assert set(SAMPLES) == set(EVENT_TYPES)


@pytest.mark.parametrize("event_type", sorted(EVENT_TYPES))
def test_sample_payload_matches_its_schema(event_type: str) -> None:
    model = EVENT_TYPES[event_type]
    # What a producer actually writes: the serialised model, defaults included.
    payload = model.model_validate(SAMPLES[event_type]).model_dump(mode="json")
    schema = json.loads(render_contracts()[_schema_path(event_type)])

    if _jsonschema is not None:
        validator = _jsonschema.Draft202012Validator(
            schema, format_checker=_jsonschema.Draft202012Validator.FORMAT_CHECKER
        )
        validator.validate(payload)

    required = [name for name, field in model.model_fields.items() if field.is_required()]
    assert schema["required"] == required
    assert set(schema["properties"]) == set(model.model_fields)
    assert set(payload) <= set(schema["properties"])
    assert set(required) <= set(payload)


def test_write_then_check_round_trip(tmp_path: Path) -> None:
    contracts = tmp_path / "contracts"
    assert stale_contracts(tmp_path) == sorted(render_contracts())  # nothing there yet

    written = write_contracts(tmp_path)
    assert sorted(path.relative_to(contracts).as_posix() for path in written) == sorted(
        render_contracts()
    )
    assert stale_contracts(tmp_path) == []

    edited = contracts / _schema_path(events.CaseOpened.event_type)
    edited.write_text(edited.read_text(encoding="utf-8") + " ", encoding="utf-8")
    removed = contracts / ASYNCAPI
    removed.unlink()
    leftover = contracts / "events" / "gov.tongban.retired.v1.schema.json"
    leftover.write_text("{}\n", encoding="utf-8")
    hand_written = contracts / "README.md"
    hand_written.write_text("by hand\n", encoding="utf-8")
    assert stale_contracts(tmp_path) == sorted(
        [
            ASYNCAPI,
            "events/gov.tongban.retired.v1.schema.json",
            _schema_path(events.CaseOpened.event_type),
        ]
    )

    write_contracts(tmp_path)
    assert stale_contracts(tmp_path) == []
    assert not leftover.exists()
    assert hand_written.read_text(encoding="utf-8") == "by hand\n"


def test_every_service_subscribes_only_to_events_published_on_the_topics_it_reads() -> None:
    # Subscription checks itself against the channel table when declared; declaring one that
    # waits for an event nobody publishes there is refused.
    from services.approval.consumers import subscription as approval_subscription
    from services.delivery.consumers import SUBSCRIPTIONS as delivery
    from services.intake.consumers import SUBSCRIPTIONS as intake
    from services.routing.consumers import SUBSCRIPTION as routing
    from shared.messaging import topics
    from shared.messaging.channels import channel_of
    from shared.messaging.subscriptions import Subscription

    approval = approval_subscription(["340100"], "tongban.approval")
    for subscription in (*intake, routing, approval, *delivery):
        for topic in subscription.topics:
            assert channel_of(topic).producer != subscription.name.split(".")[1]
    with pytest.raises(ValueError, match="no channel it reads carries"):
        Subscription(
            name="confused",
            topics=(topics.INTAKE_EVENTS,),
            handlers={events.CaseOpened: approval.handlers[events.ApplicationRouted]},
        )


def test_intake_reads_no_topic_that_carries_personal_data() -> None:
    from services.intake.consumers import SUBSCRIPTIONS
    from shared.messaging.channels import channel_of

    read = {channel_of(topic).id for sub in SUBSCRIPTIONS for topic in sub.topics}
    assert "approvalRequests" not in read
    # consultationEvents: staff identifiers only (视频会商, timeline notes); federationResults:
    # statuses a partner reported back, no personal data.
    assert read == {
        "routingEvents",
        "approvalEvents",
        "deliveryEvents",
        "consultationEvents",
        "federationResults",
    }
