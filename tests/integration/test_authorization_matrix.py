"""The authorization matrix, generated from shared.authz.POLICY: every endpoint × every role ×
own/other locality (and a clerk's token naming another locality's window). A request the table
does not allow must be refused (401 without a token, 403, or 404 for another locality's
resource); a 2xx there is a leak. The allowed requests are the other integration tests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from shared.auth import ROLES, Role
from shared.authz import POLICY, Rule
from tests import factories
from tests.harness import Stack
from tooling.journey import (
    ID_CARD_SCAN,
    household_application,
    scan_digest,
)

pytestmark = pytest.mark.integration

RECEIVING, COMPETENT, STRANGER = "341200", "340100", "340200"
DIGEST = "0" * 64


@dataclass(frozen=True)
class Resources:
    """One application of each kind the endpoints act on, and where each belongs."""

    in_review: str  # accepted at W341200-01, a case of 340100 nobody has claimed
    waiting: str  # approved, its certificate waiting at W341200-01
    certificate_no: str  # the certificate of `waiting`, sealed by 340100
    notice_no: str
    agreement_id: str
    agreement_grantor: str
    applicant_id: str


@pytest.fixture(scope="module")
async def resources(stack: Stack) -> Resources:
    journey = stack.journey()
    applicant = factories.applicant()
    in_review = await journey.submit(household_application(applicant))
    assert in_review.status_code == 201, in_review.text
    number = in_review.json()["application_no"]
    await journey.wait_for_case(number, COMPETENT)

    other = factories.applicant()
    waiting = await journey.submit(household_application(other))
    assert waiting.status_code == 201, waiting.text
    waiting_no = waiting.json()["application_no"]
    await journey.approve(waiting_no, COMPETENT)
    job = await journey.wait_in_print_queue(waiting_no)

    incomplete = household_application(factories.applicant()) | {"materials": []}
    notice = await journey.submit(incomplete)
    assert notice.status_code == 422, notice.text
    notice_no = notice.json()["error"]["details"]["notice_no"]

    async with stack.client("routing", stack.token("operator", "340000")) as routing:
        agreements = (await routing.get("/v1/agreements")).json()["agreements"]
    agreement = next(a for a in agreements if a["grantor_locality"] == COMPETENT)
    return Resources(
        number,
        waiting_no,
        job["certificate_no"],
        notice_no,
        agreement["id"],
        agreement["grantor_locality"],
        other["id_number"],
    )


def _path(template: str, r: Resources) -> str:
    application = r.waiting if "deliveries" in template or "evaluation" in template else None
    path = template.format(
        application_no=application or r.in_review,
        item_code="GA-HJ-001",
        notice_no=r.notice_no,
        certificate_no=r.certificate_no,
        agreement_id=r.agreement_id,
        sha256=scan_digest(ID_CARD_SCAN),
        bundle_id="YJS-XSECS",
        bundle_no="YJS34120020260101000001",  # none such: refused as any other locality's
    )
    # The portal's online routes act at the window the applicant chose.
    return path + "?window_id=W341200-01" if template.startswith("/v1/online/") else path


def _body(service: str, method: str, template: str, r: Resources) -> dict[str, Any] | None:
    """A body the route would act on if the caller were let through, so that a leak shows as
    a 2xx rather than a validation error."""
    if method != "POST":
        return None
    bodies: dict[str, dict[str, Any]] = {
        "/v1/applications": household_application(factories.applicant()),
        "/v1/online/applications": household_application(factories.applicant()),
        "/v1/online/applications/{application_no}/evaluation": {"score": 5, "comment": "矩阵"},
        "/v1/applications/{application_no}/supplements": {
            "materials": [
                {
                    "material_code": "M01",
                    "sha256": scan_digest(ID_CARD_SCAN),
                    "original_verified": True,
                }
            ]
        },
        "/v1/applications/{application_no}/evaluation": {"score": 5, "comment": "矩阵"},
        "/v1/jurisdiction/resolve": {"item_code": "GA-HJ-001", "applicant_locality": "340104"},
        "/v1/agreements": {
            "grantor_locality": r.agreement_grantor,
            "grantee_locality": "340300",
            "item_codes": ["*"],
            "rights": ["accept"],
        },
        "/v1/cases/{application_no}/decision": {"decision": "reject", "reason": "矩阵"},
        "/v1/cases/{application_no}/transfer": {"to_locality": "340300", "reason": "矩阵"},
        "/v1/deliveries/{application_no}/handover": {"recipient_id_number": r.applicant_id},
        "/v1/certificates/{certificate_no}/revoke": {"reason": "矩阵"},
        "/v1/carrier/events": {
            "tracking_no": "SIM-MATRIX",
            "event": "delivered",
            "at": "2026-01-05T10:00:00+08:00",
        },
    }
    return bodies.get(template)


def _owner(service: str, template: str, r: Resources) -> str:
    """The locality whose resource the route acts on."""
    if service == "approval":
        return COMPETENT
    if template.startswith("/v1/agreements"):
        return r.agreement_grantor
    return RECEIVING


@dataclass(frozen=True)
class Attempt:
    who: str
    role: Role | None
    locality: str = RECEIVING
    window_id: str | None = None


def _attempts(service: str, template: str, rule: Rule, r: Resources) -> list[Attempt]:
    """Every request this rule must refuse."""
    if rule.scope == "public":
        return []
    owner = _owner(service, template, r)
    stranger = STRANGER if owner != STRANGER else "340300"
    attempts = [Attempt("no token", None)]
    for role in ROLES:
        window = f"W{owner}-01" if role == "window_clerk" else None
        if role not in rule.roles:
            attempts.append(Attempt(f"{role} of {owner}", role, owner, window))
        elif rule.scope in ("own_locality", "own_window", "province"):
            other_window = f"W{stranger}-01" if role == "window_clerk" else None
            if rule.scope == "own_window" and "{application_no}" not in template:
                continue  # any window may accept or upload; the window check is below
            attempts.append(Attempt(f"{role} of {stranger}", role, stranger, other_window))
    if rule.scope == "own_window":
        # A clerk of 340200 writing 341200's window id into the token.
        attempts.append(Attempt("forged window", "window_clerk", STRANGER, f"W{owner}-01"))
    return attempts


def _own_list_only(template: str, response: httpx.Response, r: Resources) -> bool:
    """A list (no resource in the path) answers another locality with that locality's own
    entries: no leak as long as none of the owner's applications is in it."""
    return (
        "{" not in template
        and response.status_code == 200
        and r.in_review not in response.text
        and r.waiting not in response.text
    )


# The console's pages take the token from a session cookie, not a bearer header: its refusals
# (no session, a clerk's token) are in test_console.py; here the APIs behind it are checked.
# The consultation service's resources are consultations, not applications: its refusals (the
# REST routes and the signalling socket) are in test_video_signalling.py.
BEARER_SERVICES = {service for service in POLICY if service not in ("console", "consultation")}

ROUTES = sorted(
    (service, method, template, rule)
    for service, table in POLICY.items()
    if service in BEARER_SERVICES
    for (method, template), rule in table.items()
    if rule.scope != "public"
)


@pytest.mark.parametrize(
    ("service", "method", "template", "rule"),
    ROUTES,
    ids=[f"{service}:{method} {template}" for service, method, template, _ in ROUTES],
)
async def test_no_request_outside_the_table_gets_through(
    stack: Stack, resources: Resources, service: str, method: str, template: str, rule: Rule
) -> None:
    async with httpx.AsyncClient(base_url=stack.services[service].base_url) as client:
        documented = (await client.get("/openapi.json")).json()["paths"]
        assert template in documented and method.lower() in documented[template]
        leaks = []
        for attempt in _attempts(service, template, rule, resources):
            # The portal's routes name the applicant by the keyed digest of the ID number.
            headers = {"Idempotency-Key": f"matrix-{attempt.who}", "X-Applicant-Digest": DIGEST}
            if attempt.role is not None:
                token = stack.token(
                    attempt.role, attempt.locality, window_id=attempt.window_id, sub="matrix"
                )
                headers["Authorization"] = f"Bearer {token}"
            response = await client.request(
                method,
                _path(template, resources),
                json=_body(service, method, template, resources),
                headers=headers,
            )
            expected = {401} if attempt.role is None else {403, 404}
            if response.status_code in expected or _own_list_only(template, response, resources):
                continue
            leaks.append(f"{attempt.who}: {response.status_code} {response.text[:120]}")
    assert leaks == []
