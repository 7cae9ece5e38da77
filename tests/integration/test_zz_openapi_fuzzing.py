"""Schemathesis against each service's own OpenAPI document: generated requests (valid and
not) for every operation, as a caller the authorization table lets through, must never get a
server error.

Named to run last: what it posts is random, and it must not disturb the other tests' state.
The province-wide operations (catalog versions, trust agreements) are fuzzed without the
admin's token only, so no random agreement or catalog changes what windows may do.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.core.result import Err
from schemathesis.generation.case import Case

from shared.authz import POLICY, Rule
from tests.harness import Stack

pytestmark = pytest.mark.integration

EXAMPLES_PER_OPERATION = 40
# Fuzzed without a token: a random accepted change here would change the rules for everyone.
PROVINCE_WIDE = {("POST", "/v1/catalog/versions"), ("POST", "/v1/agreements")}
PROVINCE_WIDE |= {("DELETE", "/v1/agreements/{agreement_id}")}


def _caller(stack: Stack, rule: Rule | None, method: str, path: str) -> dict[str, str]:
    if rule is None or rule.scope == "public" or (method, path) in PROVINCE_WIDE:
        return {}
    role = sorted(rule.roles)[0]
    locality = "340100" if role in ("approver", "approval_system") else "341200"
    window = "W341200-01" if role == "window_clerk" else None
    token = stack.token(role, locality, window_id=window, sub="fuzzer")
    return {"Authorization": f"Bearer {token}"}


def _fuzz(operation: Any, base_url: str, headers: dict[str, str]) -> tuple[int, list[str]]:
    """Send generated requests for one operation; how many, and the server errors."""
    sent, errors = 0, []
    name = f"{operation.method.upper()} {operation.path}"

    @given(case=operation.as_strategy())
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def check(case: Case) -> None:
        nonlocal sent
        sent += 1
        response = case.call(
            base_url=base_url,
            headers={"Idempotency-Key": f"fuzz-{name}-{sent}", **headers},
            timeout=15,
        )
        if response.status_code >= 500:
            errors.append(f"{name}: {response.status_code} {response.text[:200]}")

    check()
    return sent, errors


@pytest.mark.parametrize("service", ["intake", "routing", "approval", "delivery"])
async def test_no_generated_request_gets_a_server_error(stack: Stack, service: str) -> None:
    base_url = stack.services[service].base_url
    async with httpx.AsyncClient(base_url=base_url) as client:
        spec = (await client.get("/openapi.json")).json()
    schema = schemathesis.openapi.from_dict(spec)

    def fuzz_all() -> tuple[int, list[str]]:
        total, errors = 0, list[str]()
        for result in schema.get_all_operations():
            if isinstance(result, Err):  # the service's own document is not valid OpenAPI
                raise AssertionError(f"{service}: {result.err()}")
            operation = result.ok()
            method, path = operation.method.upper(), operation.path
            headers = _caller(stack, POLICY[service].get((method, path)), method, path)
            sent, found = _fuzz(operation, base_url, headers)
            total, errors = total + sent, errors + found
        return total, errors

    # The services run on this event loop: the generated requests go out from a thread.
    sent, errors = await asyncio.to_thread(fuzz_all)
    assert sent >= 150, f"only {sent} requests were generated"
    assert errors == []
