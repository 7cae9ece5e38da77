"""跨省通办 on the window's side alone (contracts/federation.md §15): a partner province's
certificate, as the gateway publishes it, is checked against this province's own application
before it is printed: one made out to anyone else does not verify and is dead-lettered, the
applicant's own is queued at the 阜阳 window and handed over against the applicant's ID."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from shared import clock
from shared.certificates import CertificateContent, seal
from shared.crypto.keyring import SoftwareSigner
from shared.crypto.sm import sm2_generate
from shared.identity import mask_name
from shared.messaging import events, topics
from tests import factories
from tests.harness import Stack, eventually, header, read_topic
from tooling.journey import household_application

pytestmark = pytest.mark.integration

NANJING = "320100"
PRIVATE, PUBLIC = sm2_generate()
NANJING_SEAL = SoftwareSigner(f"seal-{NANJING}#1", "SM2-SM3", PRIVATE)


def partner_certificate(application_no: str, holder_name: str) -> events.PartnerCertificateReceived:
    """南京市's certificate for `holder_name`, sealed with the seal Jiangsu's anchor names, as
    this province's gateway publishes it."""
    content = CertificateContent(
        number=f"ZZ{NANJING}{application_no[-8:]}",
        application_no=application_no,
        item_code="JS-GA-0101",
        item_name="户口迁移证明开具",
        holder_name=holder_name,
        holder_id_digest="ab" * 32,  # keyed by Jiangsu: nothing to check it with here
        issuer_locality=NANJING,
        issuer_department="公安局",
        issued_on=clock.today(),
    )
    document = events.PublishedDocument(
        content=content.model_dump(mode="json", exclude={"holder_name"}),
        holder_name_masked=mask_name(holder_name),
        # Sealed for Jiangsu's delivery: nothing this province can open.
        holder_name=events.Sealed(recipient="sealing-delivery#1", key="AAAA", ciphertext="AAAA"),
        seal=seal(content, NANJING_SEAL),
    )
    return events.PartnerCertificateReceived(
        application_no=application_no,
        from_province="32",
        locality=NANJING,
        certificate_no=content.number,
        item_code=content.item_code,
        issued_on=content.issued_on,
        document=document,
        seal_key=events.PartnerSealKey(
            kid=NANJING_SEAL.kid,
            locality=NANJING,
            public_key=base64.b64encode(PUBLIC).decode("ascii"),
        ),
        message_id=str(uuid.uuid4()),
        received_at=datetime.now(UTC),
    )


async def expected_in_delivery(stack: Stack, number: str) -> Any:
    engine = create_async_engine(stack.settings.service_database_url("delivery"))
    try:
        async with engine.connect() as connection:
            query = text(
                "SELECT window_id, delivery_method, partner_province, personal_data "
                "FROM partner_deliveries WHERE application_no = :n"
            )
            return (await connection.execute(query, {"n": number})).first()
    finally:
        await engine.dispose()


async def test_a_partner_certificate_is_delivered_only_to_this_provinces_applicant(
    stack: Stack, producer: AIOKafkaProducer
) -> None:
    trip = stack.journey()  # the 阜阳 window W341200-01
    applicant = factories.applicant("320102")  # 南京市玄武区
    response = await trip.submit(household_application(applicant))
    assert response.status_code == 201, response.text
    number: str = response.json()["application_no"]

    # Routing's hand-over told delivery what it will need, the personal data sealed.
    expected: Any = await eventually(lambda: expected_in_delivery(stack, number))
    assert (expected.window_id, expected.delivery_method, expected.partner_province) == (
        "W341200-01",
        "window_pickup",
        "32",
    )
    assert applicant["name"] not in str(expected.personal_data)

    # A certificate made out to someone else does not verify with this applicant's name.
    forged, _ = await stack.publish(
        producer, partner_certificate(number, "李四"), topics.FEDERATION_RESULTS
    )
    consumer = "tongban.delivery.federation"

    def refused(record: Any) -> bool:
        return header(record, "ce_id") == forged.id and header(record, "dlq.consumer") == consumer

    records = await read_topic(
        stack.settings,
        topics.dead_letter(topics.FEDERATION_RESULTS),
        until=lambda found: any(refused(r) for r in found),
    )
    [record] = [r for r in records if refused(r)]
    assert "signature_invalid" in (header(record, "dlq.error.message") or "")

    # The applicant's own: queued at the 阜阳 window, handed over against the applicant's ID
    # number (the digest made with this province's key, not the partner's).
    await stack.publish(
        producer, partner_certificate(number, applicant["name"]), topics.FEDERATION_RESULTS
    )
    job = await trip.wait_in_print_queue(number)
    assert job["issuer_locality"] == NANJING and job["holder_name_masked"] == mask_name(
        applicant["name"]
    )
    wrong = await trip.hand_over(number, factories.applicant("320102")["id_number"])
    assert wrong.status_code != 200, wrong.text
    handed = await trip.hand_over(number, applicant["id_number"])
    assert handed.status_code == 200, handed.text
    await trip.wait_for_status(number, "delivered")
