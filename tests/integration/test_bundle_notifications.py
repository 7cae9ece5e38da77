"""一件事, one notification: a registered resident's 新生儿出生 bundle, all approved, is texted
once when every result waits at the window and once when it was handed over, by the bundle's
number; none of its four children is texted on its own (approved, ready, delivered)."""

from __future__ import annotations

import pytest

from shared.db import Database
from tests.harness import RunningService, Stack
from tests.integration.test_bundle_result import SHUSHAN, all_approved
from tests.integration.test_portal_notifications import LI, db, portal, wait_texts
from tooling.journey import poll_until
from tooling.sms_gateway.control import SmsGatewayControl

pytestmark = pytest.mark.integration

__all__ = ["db", "portal"]  # the portal of test_portal_notifications.py, fixtures here too


async def test_a_bundle_is_texted_once_ready_and_once_delivered_not_per_child(
    stack: Stack, portal: RunningService, db: Database, sms_gateway: SmsGatewayControl
) -> None:
    trip = stack.journey()
    await trip.upload_sample_scans()
    id_number, name, phone = LI
    applicant = {
        "kind": "person",
        "name": name,
        "id_type": "resident_id",
        "id_number": id_number,
        "phone": phone,
        "locality": SHUSHAN,
    }
    bundle_no, numbers = await all_approved(stack, trip, applicant)
    [ready] = await wait_texts(sms_gateway, phone, bundle_no, 1, within=60)
    assert "一件事" in ready["text"] and "一次领取" in ready["text"]

    async with trip._client("delivery", trip.clerk_token) as delivery:

        async def handed() -> int | None:
            answer = await delivery.post(
                f"/v1/bundle-deliveries/{bundle_no}/handover",
                json={"recipient_id_number": id_number},
            )
            return answer.status_code if answer.status_code == 200 else None

        await poll_until(handed, within=60.0, failure="the bundle was never handed over")
    ready, delivered = await wait_texts(sms_gateway, phone, bundle_no, 2, within=60)
    assert "已全部送达" in delivered["text"]
    for number in numbers.values():
        texts = [m for m in await sms_gateway.messages(to=phone) if number in m["text"]]
        assert texts == [], number
