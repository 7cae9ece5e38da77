"""Bad input at the window gets the contract's error shape and leaves nothing behind."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import create_async_engine

from shared.db.messaging_tables import outbox
from tests import factories
from tests.harness import Stack
from tooling.journey import household_application, sample_applicant

pytestmark = pytest.mark.integration


async def stored_counts(stack: Stack) -> tuple[int, int]:
    from services.intake.db import ApplicationRow

    engine = create_async_engine(stack.settings.service_database_url("intake"))
    async with engine.connect() as connection:
        applications = await connection.scalar(select(func.count()).select_from(ApplicationRow))
        events = await connection.scalar(select(func.count()).select_from(outbox))
    await engine.dispose()
    return int(applications or 0), int(events or 0)


def clerk_headers(stack: Stack) -> dict[str, str]:
    token = stack.token("window_clerk", "341200", "W341200-01")
    return {"Authorization": f"Bearer {token}", "Idempotency-Key": str(uuid.uuid4())}


async def test_malformed_json_is_rejected_in_the_error_shape(stack: Stack) -> None:
    before = await stored_counts(stack)
    async with stack.client("intake") as intake:
        response = await intake.post(
            "/v1/applications",
            content=b'{"item_code": "GA-HJ-001", "applicant": ',
            headers={**clerk_headers(stack), "Content-Type": "application/json"},
        )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "malformed_json"
    assert await stored_counts(stack) == before


async def test_missing_fields_are_all_named_at_once(stack: Stack) -> None:
    before = await stored_counts(stack)
    body = household_application(sample_applicant())
    del body["delivery"]
    del body["applicant"]["id_number"]
    async with stack.client("intake") as intake:
        response = await intake.post("/v1/applications", json=body, headers=clerk_headers(stack))
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_request"
    assert {p["field"] for p in error["details"]} == {"delivery", "applicant.id_number"}
    assert await stored_counts(stack) == before


async def test_an_unknown_item_is_refused_and_nothing_is_stored(stack: Stack) -> None:
    before = await stored_counts(stack)
    body = household_application(sample_applicant())
    body["item_code"] = "XX-NOPE-999"
    async with stack.client("intake") as intake:
        response = await intake.post("/v1/applications", json=body, headers=clerk_headers(stack))
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "unknown_item"
    assert await stored_counts(stack) == before


async def test_without_a_token_the_window_gets_401(stack: Stack) -> None:
    async with stack.client("intake") as intake:
        response = await intake.post(
            "/v1/applications",
            json=household_application(sample_applicant()),
            headers={"Idempotency-Key": "k"},
        )
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"


async def test_an_incomplete_application_gets_one_notice_listing_every_problem(
    stack: Stack,
) -> None:
    before = await stored_counts(stack)
    body = household_application(sample_applicant())
    body["materials"] = []  # the ID card (key material) is missing
    body["commitments"] = []  # and the kinship proof neither handed in nor committed
    body["applicant"]["id_number"] = body["applicant"]["id_number"][:-1] + (
        "0" if body["applicant"]["id_number"][-1] != "0" else "1"
    )
    headers = clerk_headers(stack)
    async with stack.client("intake") as intake:
        response = await intake.post("/v1/applications", json=body, headers=headers)
        assert response.status_code == 422, response.text
        error = response.json()["error"]
        assert error["code"] == "incomplete_application"
        problems = {
            (p.get("material_code") or p.get("field"), p["code"])
            for p in error["details"]["problems"]
        }
        assert problems == {
            ("M01", "material_missing"),
            ("M03", "material_missing"),
            ("applicant.id_number", "invalid_id_number"),
        }
        again = await intake.get(f"/v1/notices/{error['details']['notice_no']}", headers=headers)
        assert again.status_code == 200
        assert again.json()["problems"] == error["details"]["problems"]
    assert await stored_counts(stack) == before


async def test_a_window_without_an_accept_right_gets_403(stack: Stack) -> None:
    # No agreement lets 芜湖 (340200) windows accept 合肥's items.
    token = stack.token("window_clerk", "340200", "W340200-01")
    async with stack.client("intake", token) as intake:
        response = await intake.post(
            "/v1/applications",
            json=household_application(sample_applicant("340104")),
            headers={"Idempotency-Key": str(uuid.uuid4())},
        )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "no_accept_right"


async def test_a_retry_with_the_same_key_returns_the_first_answer_and_another_body_conflicts(
    stack: Stack,
) -> None:
    body = household_application(factories.applicant("340104"))
    headers = clerk_headers(stack)
    async with stack.client("intake") as intake:
        first = await intake.post("/v1/applications", json=body, headers=headers)
        before = await stored_counts(stack)
        second = await intake.post("/v1/applications", json=body, headers=headers)
        body["applicant"]["phone"] = "13900000000"
        third = await intake.post("/v1/applications", json=body, headers=headers)
    assert first.status_code == 201 and second.status_code == 201
    assert second.json() == first.json()
    assert await stored_counts(stack) == before
    assert third.status_code == 409
    assert third.json()["error"]["code"] == "idempotency_key_reused"


async def test_an_unknown_property_locality_is_named_in_the_notice(stack: Stack) -> None:
    body = household_application(sample_applicant())
    body["item_code"] = "ZF-BDC-001"  # decided where the property lies
    body["property_locality"] = "349999"  # shaped like a code, but no such locality
    async with stack.client("intake") as intake:
        response = await intake.post("/v1/applications", json=body, headers=clerk_headers(stack))
    assert response.status_code == 422, response.text
    problems = response.json()["error"]["details"]["problems"]
    assert {"field": "property_locality", "code": "unknown_locality"} in [
        {"field": p.get("field"), "code": p["code"]} for p in problems
    ]


# --- bounded input: nothing oversized or malformed is stored, and the province keeps moving ------


async def test_a_body_over_the_limit_is_refused_with_413_and_nothing_is_stored(
    stack: Stack,
) -> None:
    before = await stored_counts(stack)
    body = household_application(factories.applicant())
    body["commitments"] = ["M03"] * 200_000  # the 1.4 MB application that once jammed routing
    async with stack.client("intake") as intake:
        declared = await intake.post("/v1/applications", json=body, headers=clerk_headers(stack))

        async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as it arrives
            payload = json.dumps(body).encode()
            for start in range(0, len(payload), 64 * 1024):
                yield payload[start : start + 64 * 1024]

        streamed = await intake.post(
            "/v1/applications",
            content=chunks(),
            headers={**clerk_headers(stack), "Content-Type": "application/json"},
        )
    for response in (declared, streamed):
        assert response.status_code == 413, response.text
        assert response.json()["error"]["code"] == "payload_too_large"
    assert await stored_counts(stack) == before


@pytest.mark.parametrize(
    ("change", "field", "says"),
    [
        ({"commitments": ["M03", "M03"]}, "body", "commitments: M03"),
        (
            {"materials": [{"material_code": "M01", "sha256": "0" * 64}] * 2},
            "body",
            "materials: M01",
        ),
        ({"commitments": ["M01"]}, "body", "commitments and materials: M01"),
        ({"commitments": [f"C{i}" for i in range(51)]}, "commitments", "at most 50"),
        ({"item_code": "GA-HJ-001\x00"}, "item_code", "control characters"),
    ],
    ids=["repeated-commitment", "repeated-material", "both-lists", "too-many", "nul"],
)
async def test_repeated_codes_long_lists_and_control_characters_are_422_and_store_nothing(
    stack: Stack, change: dict[str, object], field: str, says: str
) -> None:
    before = await stored_counts(stack)
    body = {**household_application(factories.applicant()), **change}
    # The problems' words asked for in English (their Chinese is the default).
    headers = {**clerk_headers(stack), "Accept-Language": "en"}
    async with stack.client("intake") as intake:
        response = await intake.post("/v1/applications", json=body, headers=headers)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_request"
    assert [p["field"] for p in error["details"]] == [field]
    assert says in error["details"][0]["message"]
    assert await stored_counts(stack) == before


async def test_a_name_with_a_nul_byte_is_refused_at_the_edge(stack: Stack) -> None:
    body = household_application(factories.applicant())
    body["applicant"]["name"] = "张\x00三"
    async with stack.client("intake") as intake:
        response = await intake.post("/v1/applications", json=body, headers=clerk_headers(stack))
    assert response.status_code == 422
    assert [p["field"] for p in response.json()["error"]["details"]] == ["applicant.name"]


async def test_after_refused_input_the_next_good_application_is_still_routed(
    stack: Stack,
) -> None:
    trip = stack.journey()
    async with stack.client("intake") as intake:
        body = household_application(factories.applicant())
        body["commitments"] = ["M03"] * 200_000
        refused = await intake.post("/v1/applications", json=body, headers=clerk_headers(stack))
        assert refused.status_code == 413
    accepted = await trip.submit(household_application(factories.applicant()))
    assert accepted.status_code == 201, accepted.text
    await trip.wait_for_status(accepted.json()["application_no"], "in_review")
