"""电子证照 and 电子印章 on the real broker and database: an approval issues a certificate sealed
by the competent locality, a rejection a sealed notice, each announced before the decision and
verifiable by anyone with GET /v1/seals; a rotated seal keeps what it sealed valid; the issuing
locality revokes a certificate once; the registry keeps the holder's name encrypted."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiokafka.structs import ConsumerRecord
from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine

from services.approval.db import CertificateRow
from shared.certificates import (
    CertificateContent,
    RejectionNoticeContent,
    check_seal,
    opened,
)
from shared.crypto.keyring import KeyRing
from shared.crypto.personal import PersonalData, is_token
from shared.messaging import events, topics
from tests import factories
from tests.harness import Stack, header, read_topic
from tests.integration.test_certificate_documents import verification_url, verify
from tooling.journey import Journey, household_application

pytestmark = pytest.mark.integration

HEFEI = "340100"
WUHU = "340200"
ITEM_NAME = "户口迁移证明开具"


def delivery_personal(stack: Stack) -> PersonalData:
    """What delivery opens the holder's name with (its own process's PersonalData)."""
    return PersonalData(stack.settings.key_ring(), service="delivery")


def another_process_ring(stack: Stack) -> KeyRing:
    """The same key ring folder as the services', read afresh (no key of theirs cached)."""
    return KeyRing(
        stack.settings.key_ring_dir,
        stack.settings.key_ring_secret.get_secret_value(),
        development=True,
    )


async def submitted(stack: Stack) -> tuple[Journey, str, dict[str, Any]]:
    trip = stack.journey()
    applicant = factories.applicant("340104")
    response = await trip.submit(household_application(applicant))
    assert response.status_code == 201, response.text
    return trip, response.json()["application_no"], applicant


async def events_of(stack: Stack, number: str, last: type[events.EventPayload]) -> list[Any]:
    """The application's records on tongban.approval.events, in order, up to `last`."""

    def arrived(records: list[ConsumerRecord[bytes, bytes]]) -> bool:
        return any(
            header(r, "ce_subject") == number and header(r, "ce_type") == last.event_type
            for r in records
        )

    records = await read_topic(stack.settings, topics.APPROVAL_EVENTS, until=arrived)
    return [r for r in records if header(r, "ce_subject") == number]


def payload(records: list[Any], model: type[events.EventPayload]) -> Any:
    [found] = [r for r in records if header(r, "ce_type") == model.event_type]
    return model.model_validate(json.loads(found.value)), found


def types_of(records: list[Any]) -> list[str | None]:
    return [header(r, "ce_type") for r in records]


async def registry_row(stack: Stack, number: str) -> CertificateRow:
    engine = create_async_engine(stack.settings.service_database_url("approval"))
    try:
        async with engine.connect() as connection:
            row = (
                await connection.execute(
                    select(CertificateRow.__table__).where(CertificateRow.number == number)
                )
            ).one()
    finally:
        await engine.dispose()
    return CertificateRow(**row._mapping)


def strings_in(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [s for item in value.values() for s in strings_in(item)]
    if isinstance(value, list):
        return [s for item in value for s in strings_in(item)]
    return [value] if isinstance(value, str) else []


async def test_an_approval_issues_a_sealed_certificate_before_it_is_announced(
    stack: Stack,
) -> None:
    trip, number, applicant = await submitted(stack)
    case = await trip.approve(number, HEFEI)
    certificate_no = case["certificate_no"]

    records = await events_of(stack, number, events.ApplicationApproved)
    kinds = types_of(records)
    assert kinds.index(events.CertificateIssued.event_type) < kinds.index(
        events.ApplicationApproved.event_type
    )
    issued, record = payload(records, events.CertificateIssued)
    assert issued.certificate_no == certificate_no
    assert (issued.locality, issued.item_code) == (HEFEI, "GA-HJ-001")
    # Province-wide: the name masked, sealed for delivery, never in clear.
    assert applicant["name"] not in record.value.decode()
    assert issued.document.holder_name_masked == "张**"
    assert issued.document.seal.signer.startswith("seal-340100#")

    # Delivery opens the name and checks the seal with the published keys alone.
    content = opened(issued.document, delivery_personal(stack))
    assert isinstance(content, CertificateContent)
    assert (content.number, content.holder_name, content.item_name) == (
        certificate_no,
        applicant["name"],
        ITEM_NAME,
    )
    assert (content.issuer_locality, content.valid_until) == (HEFEI, None)
    assert content.holder_id_digest == issued.holder_id_digest
    ring = another_process_ring(stack)
    assert check_seal(content, issued.document.seal, ring.public_key).valid

    # Anyone finds the seal's key, with no token.
    async with stack.client("approval") as anonymous:
        seals = (await anonymous.get("/v1/seals")).json()["seals"]
    [key] = [s for s in seals if s["kid"] == issued.document.seal.signer]
    assert (key["locality"], key["algorithm"], key["current"]) == (HEFEI, "SM2-SM3", True)
    assert all(s["kid"].startswith("seal-") for s in seals)

    # The issuing locality reads its registry entry with the name; another locality cannot.
    async with stack.client("approval", trip.approver_token(HEFEI)) as hefei:
        entry = (await hefei.get(f"/v1/certificates/{certificate_no}")).json()
    assert entry["kind"] == "certificate"
    assert entry["content"] == content.model_dump(mode="json")
    assert entry["seal"]["signature"] == issued.document.seal.signature
    assert entry["revoked"] is False
    async with stack.client("approval", stack.token("approver", WUHU)) as wuhu:
        elsewhere = await wuhu.get(f"/v1/certificates/{certificate_no}")
    assert elsewhere.status_code == 404
    assert elsewhere.json()["error"]["code"] == "certificate_not_found"

    # The registry's columns hold no name in clear.
    stored = await registry_row(stack, certificate_no)
    assert is_token(stored.content["holder_name"])
    columns = [getattr(stored, c.key) for c in CertificateRow.__table__.columns]
    assert [s for s in strings_in(columns) if applicant["name"] in s] == []


async def test_a_rotated_seal_seals_what_comes_next_and_what_it_sealed_stays_valid(
    stack: Stack,
) -> None:
    trip, before_no, _ = await submitted(stack)
    await trip.approve(before_no, HEFEI)
    before, _ = payload(
        await events_of(stack, before_no, events.ApplicationApproved), events.CertificateIssued
    )
    old_kid = before.document.seal.signer

    # An operator rotates 合肥's seal from another process: the running approval still holds
    # the old signer in its cache, and must notice.
    new_kid = another_process_ring(stack).rotate("seal-340100")
    assert new_kid != old_kid

    trip, after_no, _ = await submitted(stack)
    await trip.approve(after_no, HEFEI)
    after, _ = payload(
        await events_of(stack, after_no, events.ApplicationApproved), events.CertificateIssued
    )
    assert after.document.seal.signer == new_kid

    ring = another_process_ring(stack)
    delivery = delivery_personal(stack)
    for issued in (before, after):
        content = opened(issued.document, delivery)
        assert check_seal(content, issued.document.seal, ring.public_key).valid

    async with stack.client("approval") as anonymous:
        seals = {s["kid"]: s for s in (await anonymous.get("/v1/seals")).json()["seals"]}
    assert seals[old_kid]["current"] is False
    assert seals[old_kid]["valid_until"] is not None
    assert (seals[new_kid]["current"], seals[new_kid]["valid_until"]) == (True, None)

    # And the public verification (delivery's registry, the QR code's URL) agrees for both.
    for issued in (before, after):
        url = await verification_url(stack, issued.certificate_no, HEFEI)
        verdict = await verify(stack, url)
        assert verdict["valid"] is True, verdict


async def test_a_rejection_issues_a_sealed_notice_with_its_reason(stack: Stack) -> None:
    trip, number, applicant = await submitted(stack)
    await trip.wait_for_case(number, HEFEI)
    await trip.claim(number, HEFEI)
    reason = "迁入地不符合落户条件\n依据《户口登记条例》不予许可"
    async with stack.client("approval", trip.approver_token(HEFEI)) as hefei:
        decided = await hefei.post(
            f"/v1/cases/{number}/decision", json={"decision": "reject", "reason": reason}
        )
        assert decided.status_code == 200, decided.text

    records = await events_of(stack, number, events.ApplicationRejected)
    kinds = types_of(records)
    assert kinds.index(events.RejectionNoticeIssued.event_type) < kinds.index(
        events.ApplicationRejected.event_type
    )
    notice, record = payload(records, events.RejectionNoticeIssued)
    assert notice.notice_no.startswith("BY340100")
    assert applicant["name"] not in record.value.decode()
    content = opened(notice.document, delivery_personal(stack))
    assert isinstance(content, RejectionNoticeContent)
    assert (content.number, content.reason, content.holder_name) == (
        notice.notice_no,
        reason,
        applicant["name"],
    )
    ring = another_process_ring(stack)
    assert check_seal(content, notice.document.seal, ring.public_key).valid
    # Changing the reason afterwards breaks the seal.
    changed = content.model_copy(update={"reason": "材料齐全"})
    assert check_seal(changed, notice.document.seal, ring.public_key).reason == "signature_invalid"

    async with stack.client("approval", trip.approver_token(HEFEI)) as hefei:
        entry = (await hefei.get(f"/v1/certificates/{notice.notice_no}")).json()
        assert (entry["kind"], entry["content"]["reason"]) == ("rejection_notice", reason)
        # A notice is not a certificate to revoke.
        refused = await hefei.post(
            f"/v1/certificates/{notice.notice_no}/revoke", json={"reason": "撤回"}
        )
        assert (refused.status_code, refused.json()["error"]["code"]) == (
            409,
            "not_a_certificate",
        )


async def test_the_issuing_locality_revokes_a_certificate_once(stack: Stack) -> None:
    trip, number, _ = await submitted(stack)
    certificate_no = (await trip.approve(number, HEFEI))["certificate_no"]
    path = f"/v1/certificates/{certificate_no}/revoke"
    reason = "申请人隐瞒有关情况，依法撤销"

    async with stack.client("approval", stack.token("approver", WUHU)) as wuhu:
        elsewhere = await wuhu.post(path, json={"reason": reason})
        assert elsewhere.status_code == 404
    async with stack.client("approval", trip.approver_token(HEFEI)) as hefei:
        unknown = await hefei.post(
            "/v1/certificates/ZZ34010019990000000/revoke", json={"reason": reason}
        )
        assert (unknown.status_code, unknown.json()["error"]["code"]) == (
            404,
            "certificate_not_found",
        )
        revoked = await hefei.post(path, json={"reason": reason})
        assert revoked.status_code == 200, revoked.text
        again = await hefei.post(path, json={"reason": "再次吊销"})
        assert (again.status_code, again.json()["error"]["code"]) == (409, "already_revoked")
        entry = (await hefei.get(f"/v1/certificates/{certificate_no}")).json()
    assert entry["revoked"] is True
    assert (entry["revoked_reason"], entry["revoked_by"]) == (reason, f"approver-{HEFEI}")
    assert entry["revoked_at"] is not None

    records = await events_of(stack, number, events.CertificateRevoked)
    assert types_of(records).count(events.CertificateRevoked.event_type) == 1
    announced, _ = payload(records, events.CertificateRevoked)
    assert (announced.certificate_no, announced.reason, announced.locality) == (
        certificate_no,
        reason,
        HEFEI,
    )
