"""Schemathesis against each service's own OpenAPI document: generated requests (valid and
not) for every operation, as a caller the authorization table lets through, must never get a
server error.

It runs in any order with the other tests, in data of its own: what it posts is random, and
the state it could wear down is the other tests' (a window's refused hand-overs lock that
window; the public verification limit counts per client address; cases and queues are listed
per locality). So its callers act at a window and in localities no other test uses, and its
requests come from a loopback address of their own, which delivery's limit counts apart. The
province-wide operations (catalog versions, trust agreements) are fuzzed without the admin's
token only, so no random agreement or catalog changes what windows may do.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from requests.adapters import HTTPAdapter
from schemathesis.core.result import Err
from schemathesis.generation.case import Case

from shared.authz import POLICY, Rule
from tests.harness import Stack

pytestmark = pytest.mark.integration

EXAMPLES_PER_OPERATION = 40
# Fuzzed without a token: a random accepted change here would change the rules for everyone.
PROVINCE_WIDE = {("POST", "/v1/catalog/versions"), ("POST", "/v1/agreements")}
PROVINCE_WIDE |= {("DELETE", "/v1/agreements/{agreement_id}")}
# The fuzzer's own data: 亳州's windows and offices, 池州's approvers (served by the `approval`
# instance), which no other test acts in, and a client address nobody else sends from.
FUZZ_LOCALITY, FUZZ_WINDOW = "341600", "W341600-01"
FUZZ_APPROVING_LOCALITY = "341700"
FUZZ_CLIENT_ADDRESS = "127.0.0.2"


def _caller(stack: Stack, rule: Rule | None, method: str, path: str) -> dict[str, str]:
    if rule is None or rule.scope == "public" or (method, path) in PROVINCE_WIDE:
        return {}
    role = sorted(rule.roles)[0]
    approving = role in ("approver", "approval_system")
    locality = FUZZ_APPROVING_LOCALITY if approving else FUZZ_LOCALITY
    window = FUZZ_WINDOW if role == "window_clerk" else None
    token = stack.token(role, locality, window_id=window, sub="fuzzer")
    return {"Authorization": f"Bearer {token}"}


class _FromOwnAddress(HTTPAdapter):
    """Connections from FUZZ_CLIENT_ADDRESS (any 127/8 address is this machine's loopback)."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["source_address"] = (FUZZ_CLIENT_ADDRESS, 0)
        super().init_poolmanager(*args, **kwargs)


def _session() -> requests.Session:
    session = requests.Session()
    session.mount("http://", _FromOwnAddress())
    return session


def _fuzz(
    operation: Any, base_url: str, headers: dict[str, str], session: requests.Session
) -> tuple[int, list[str]]:
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
            session=session,
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
        session = _session()
        for result in schema.get_all_operations():
            if isinstance(result, Err):  # the service's own document is not valid OpenAPI
                raise AssertionError(f"{service}: {result.err()}")
            operation = result.ok()
            method, path = operation.method.upper(), operation.path
            headers = _caller(stack, POLICY[service].get((method, path)), method, path)
            sent, found = _fuzz(operation, base_url, headers, session)
            total, errors = total + sent, errors + found
        return total, errors

    # The services run on this event loop: the generated requests go out from a thread.
    sent, errors = await asyncio.to_thread(fuzz_all)
    assert sent >= 150, f"only {sent} requests were generated"
    assert errors == []
