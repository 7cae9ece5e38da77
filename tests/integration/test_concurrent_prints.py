"""Prints of one certificate at the same moment (two windows' clerks, a double click) are numbered
one after another and carry one verification code: printing takes the certificate's lock
(services/delivery/usecases/printing.lock_certificate, an advisory lock on its number rather than
a row lock) for the count of earlier prints, the print recorded, and the code made at the first
print. Without it the prints would count the same ordinal, and all but one fail on the unique
(certificate_no, ordinal), or make two codes of which only one verifies."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import AIOKafkaProducer
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.harness import Stack, eventually
from tests.integration.test_certificate_documents import (
    clerk,
    delivery_db,  # noqa: F401 (the module's fixture, used here)
    issued_and_approved,
    verify,
)

pytestmark = pytest.mark.integration

AT_ONCE = 5


async def test_prints_at_the_same_moment_are_numbered_in_turn_with_one_verification_code(
    stack: Stack,
    producer: AIOKafkaProducer,
    delivery_db: AsyncEngine,  # noqa: F811
) -> None:
    application_no, number, _ = await issued_and_approved(producer, stack, delivery_db)

    async def window_recorded() -> bool:  # the approval's receiving window, a moment after
        async with delivery_db.connect() as connection:
            found = await connection.scalar(
                text("SELECT 1 FROM receiving_windows WHERE application_no = :a"),
                {"a": application_no},
            )
        return found is not None

    await eventually(window_recorded)

    async with stack.client("delivery", clerk(stack)) as client:
        answers = await asyncio.gather(
            *(client.get(f"/v1/certificates/{number}.pdf") for _ in range(AT_ONCE))
        )
    assert [answer.status_code for answer in answers] == [200] * AT_ONCE, [
        answer.text[:200] for answer in answers if answer.status_code != 200
    ]
    ordinals = sorted(int(answer.headers["X-Tongban-Print"]) for answer in answers)
    assert ordinals == list(range(1, AT_ONCE + 1))
    urls = {answer.headers["X-Tongban-Verify-Url"] for answer in answers}
    assert len(urls) == 1, urls  # one code, made once
    assert (await verify(stack, urls.pop()))["valid"] is True

    async with delivery_db.connect() as connection:
        recorded = (
            await connection.execute(
                text("SELECT ordinal FROM certificate_prints WHERE certificate_no = :n"),
                {"n": number},
            )
        ).scalars()
        assert sorted(recorded) == ordinals
