"""Who may call what: every route's roles and locality rule, declared once, enforced by one
dependency.

`POLICY` is the table. Each service app runs `authorize` before every route (an app-wide
dependency), and refuses to start if a route has no rule, so nothing is reachable by accident.
The rule also goes into the route's OpenAPI description, and the authorization-matrix test
(tests/integration/test_authorization_matrix.py) is generated from this same table.

Scopes say what the service checks beyond the role:
- `public`: no token (health, catalog reads, public keys).
- `any_locality`: any caller with the role, from any locality (province-wide reference data).
- `own_locality`: the resource must belong to the caller's locality (or lie within it, for a
  city or the province); another locality's resource answers 404, as if it did not exist.
- `own_window`: a window clerk, at a registered window of the token's own locality
  (shared.reference.windows); the resource must belong to that window or its locality.
- `province`: an admin of the province itself (340000).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from fastapi import Depends, FastAPI, Request
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from shared.auth import ROLES, Principal, Role, decode_token
from shared.errors import ApiError
from shared.i18n import _
from shared.reference.windows import window_locality
from shared.settings import Settings

Scope = Literal["public", "any_locality", "own_locality", "own_window", "province"]


@dataclass(frozen=True)
class Rule:
    roles: frozenset[Role]
    scope: Scope

    def describe(self) -> str:
        if self.scope == "public":
            return "**Access:** public, no token."
        roles = ", ".join(sorted(self.roles))
        return f"**Access:** {roles}; scope `{self.scope}`."


def _rule(scope: Scope, *roles: Role) -> Rule:
    return Rule(frozenset(roles), scope)


PUBLIC = _rule("public")
STAFF: tuple[Role, ...] = ("window_clerk", "approver", "approval_system", "operator", "admin")
REVIEWERS: tuple[Role, ...] = ("approver", "approval_system")
OPERATORS: tuple[Role, ...] = ("operator", "admin")

# Routes every service serves (shared.webapp).
COMMON: dict[tuple[str, str], Rule] = {
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/readyz"): PUBLIC,
    ("GET", "/v1/keys"): PUBLIC,
    # Prometheus scrapes it from inside the cluster (NetworkPolicies restrict who reaches it);
    # no label carries personal data (shared.metrics).
    ("GET", "/metrics"): PUBLIC,
    ("GET", "/v1/ops/outbox"): _rule("any_locality", *OPERATORS),
    # A parked event made pending again once its cause is fixed (the console's 重新发送).
    ("POST", "/v1/ops/outbox/{seq}/requeue"): _rule("any_locality", *OPERATORS),
}

POLICY: dict[str, dict[tuple[str, str], Rule]] = {
    "intake": {
        ("GET", "/v1/catalog/items"): PUBLIC,
        ("GET", "/v1/catalog/items/{item_code}"): PUBLIC,
        ("GET", "/v1/catalog/versions"): PUBLIC,
        ("POST", "/v1/catalog/versions"): _rule("province", "admin"),
        ("POST", "/v1/materials"): _rule("own_window", "window_clerk"),
        ("POST", "/v1/applications"): _rule("own_window", "window_clerk"),
        ("GET", "/v1/applications/{application_no}"): _rule("own_locality", *STAFF),
        ("GET", "/v1/notices/{notice_no}"): _rule("own_locality", *STAFF),
        ("POST", "/v1/applications/{application_no}/supplements"): _rule(
            "own_window", "window_clerk"
        ),
        ("POST", "/v1/applications/{application_no}/evaluation"): _rule(
            "own_window", "window_clerk"
        ),
        ("GET", "/v1/evaluations/statistics"): _rule("own_locality", *OPERATORS),
        ("GET", "/v1/catalog/bundles"): PUBLIC,
        ("GET", "/v1/catalog/bundles/{bundle_id}"): PUBLIC,
        ("POST", "/v1/bundle-applications"): _rule("own_window", "window_clerk"),
        ("GET", "/v1/bundle-applications/{bundle_no}"): _rule("own_locality", *STAFF),
        ("GET", "/v1/bundle-applications/{bundle_no}/timeline"): _rule("own_locality", *STAFF),
        ("POST", "/v1/bundle-applications/{bundle_no}/evaluation"): _rule(
            "own_window", "window_clerk"
        ),
        ("GET", "/v1/bundle-applications"): _rule("own_locality", *OPERATORS),
        # 全程网办: the portal's own credential, for the applicant it signed in
        # (X-Applicant-Digest); another's application answers 404 (intake's applicant_api.py).
        ("POST", "/v1/online/materials"): _rule("any_locality", "portal"),
        ("POST", "/v1/online/applications"): _rule("any_locality", "portal"),
        ("GET", "/v1/online/applications"): _rule("any_locality", "portal"),
        ("GET", "/v1/online/applications/{application_no}"): _rule("any_locality", "portal"),
        ("POST", "/v1/online/applications/{application_no}/supplements"): _rule(
            "any_locality", "portal"
        ),
        ("POST", "/v1/online/applications/{application_no}/evaluation"): _rule(
            "any_locality", "portal"
        ),
        # 一件事 online (intake's online_bundle_api.py): another's bundle answers 404.
        ("POST", "/v1/online/bundle-applications"): _rule("any_locality", "portal"),
        ("GET", "/v1/online/bundle-applications"): _rule("any_locality", "portal"),
        ("GET", "/v1/online/bundle-applications/{bundle_no}"): _rule("any_locality", "portal"),
    },
    "routing": {
        ("POST", "/v1/jurisdiction/resolve"): _rule("any_locality", *STAFF),
        ("GET", "/v1/agreements"): _rule("any_locality", *STAFF),
        ("POST", "/v1/agreements"): _rule("own_locality", "admin"),
        ("DELETE", "/v1/agreements/{agreement_id}"): _rule("own_locality", "admin"),
        ("GET", "/v1/audit/applications/{application_no}"): _rule("any_locality", *OPERATORS),
        ("GET", "/v1/audit/verify"): _rule("any_locality", *OPERATORS),
        ("GET", "/v1/audit/verification"): _rule("any_locality", *OPERATORS),
    },
    "approval": {
        ("GET", "/v1/cases"): _rule("own_locality", *REVIEWERS),
        ("GET", "/v1/cases/{application_no}"): _rule("own_locality", *REVIEWERS),
        ("POST", "/v1/cases/{application_no}/claim"): _rule("own_locality", *REVIEWERS),
        ("POST", "/v1/cases/{application_no}/release"): _rule("own_locality", *REVIEWERS),
        ("POST", "/v1/cases/{application_no}/decision"): _rule("own_locality", *REVIEWERS),
        ("POST", "/v1/cases/{application_no}/transfer"): _rule("own_locality", *REVIEWERS),
        ("GET", "/v1/cases/{application_no}/materials/{sha256}"): _rule("own_locality", *REVIEWERS),
        # The queues of the caller's locality for operators: deadlines only, no personal data.
        ("GET", "/v1/ops/cases"): _rule("own_locality", *OPERATORS),
        # 电子印章: every locality's seal keys, current and retired, for anyone to verify with.
        ("GET", "/v1/seals"): PUBLIC,
        # The certificate registry entry (sealed content) of the caller's locality.
        ("GET", "/v1/certificates/{certificate_no}"): _rule("own_locality", *REVIEWERS),
        ("POST", "/v1/certificates/{certificate_no}/revoke"): _rule("own_locality", *REVIEWERS),
    },
    "delivery": {
        ("GET", "/v1/print-queue"): _rule("own_window", "window_clerk"),
        ("POST", "/v1/deliveries/{application_no}/handover"): _rule("own_window", "window_clerk"),
        # 一件事: a bundle's certificates, one print job and one hand-over at its window.
        ("GET", "/v1/bundle-print-queue"): _rule("own_window", "window_clerk"),
        ("POST", "/v1/bundle-deliveries/{bundle_no}/handover"): _rule("own_window", "window_clerk"),
        # The receiving window (a clerk there) and the competent locality (its reviewers).
        ("GET", "/v1/certificates/{certificate_no}.pdf"): _rule(
            "own_locality", "window_clerk", *REVIEWERS
        ),
        ("GET", "/v1/certificates/{certificate_no}/verify"): PUBLIC,
        # The carrier's webhook; the body is also signed with the shared HMAC secret.
        ("POST", "/v1/carrier/events"): _rule("any_locality", "carrier"),
        # The applicant's own e-certificates, for the portal (X-Applicant-Digest; another
        # holder's answers 404: services/delivery/holder_api.py).
        ("GET", "/v1/holder/certificates"): _rule("any_locality", "portal"),
        ("GET", "/v1/holder/certificates/{certificate_no}.pdf"): _rule("any_locality", "portal"),
    },
    # 视频会商 (services/consultation): a window clerk opens a consultation with the competent
    # locality; only that locality's reviewers and the clerk's window may see and join it
    # (services/consultation/domain.py decides, on the REST routes and the signalling socket
    # alike; the socket is no API route and checks the same rule itself). Its pages take the
    # same token from a cookie (services/consultation/pages.py).
    "consultation": {
        ("POST", "/v1/consultations"): _rule("own_window", "window_clerk"),
        ("GET", "/v1/consultations"): _rule("own_locality", "window_clerk", *REVIEWERS),
        ("GET", "/v1/consultations/{consultation_id}"): _rule(
            "own_locality", "window_clerk", *REVIEWERS
        ),
        ("POST", "/v1/consultations/{consultation_id}/end"): _rule(
            "own_locality", "window_clerk", *REVIEWERS
        ),
        ("POST", "/v1/consultations/{consultation_id}/verifications"): _rule(
            "own_locality", *REVIEWERS
        ),
        ("GET", "/v1/consultations/{consultation_id}/recording"): _rule("own_locality", *REVIEWERS),
        ("GET", "/login"): PUBLIC,
        ("POST", "/login"): PUBLIC,
        ("POST", "/logout"): PUBLIC,
        ("GET", "/"): _rule("own_locality", "window_clerk", *REVIEWERS),
        ("POST", "/consultations"): _rule("own_window", "window_clerk"),
        ("GET", "/consultations/{consultation_id}"): _rule(
            "own_locality", "window_clerk", *REVIEWERS
        ),
        ("POST", "/consultations/{consultation_id}/verifications"): _rule(
            "own_locality", *REVIEWERS
        ),
    },
    # The operator console (services/console): server-rendered pages behind a login form that
    # keeps the operator's bearer token in a cookie; it calls the other services with it.
    "console": {
        ("GET", "/login"): PUBLIC,
        ("POST", "/login"): PUBLIC,
        ("POST", "/logout"): PUBLIC,
        ("GET", "/"): _rule("any_locality", *OPERATORS),
        ("GET", "/applications"): _rule("own_locality", *OPERATORS),
        ("GET", "/queues"): _rule("own_locality", *OPERATORS),
        ("GET", "/bundles"): _rule("own_locality", *OPERATORS),
        ("GET", "/dead-letters"): _rule("any_locality", *OPERATORS),
        ("POST", "/dead-letters/replay"): _rule("any_locality", *OPERATORS),
        ("POST", "/outbox/requeue"): _rule("any_locality", *OPERATORS),
    },
}


def rule_for(service: str, method: str, path: str) -> Rule | None:
    return POLICY.get(service, {}).get((method, path)) or COMMON.get((method, path))


def apply_policy(app: FastAPI, service: str) -> None:
    """Check that every route has a rule (a service with an unruled route does not start) and
    write each rule into the route's OpenAPI description."""
    for route in app.routes:
        if not isinstance(route, APIRoute):
            continue  # /openapi.json and /docs
        for method in sorted((route.methods or set()) - {"HEAD", "OPTIONS"}):
            rule = rule_for(service, method, route.path)
            if rule is None:
                raise RuntimeError(
                    f"{service}: {method} {route.path} has no rule in shared.authz.POLICY"
                )
            route.description = f"{route.description}\n\n{rule.describe()}".strip()


_bearer = HTTPBearer(auto_error=False)


async def authorize(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal | None:
    """The one gate: the route's rule from `POLICY`; the caller (None on public routes).

    `async def`: FastAPI would run a plain `def` dependency in a worker thread."""
    route = request.scope.get("route")
    service: str = request.app.state.runtime.service
    rule = rule_for(service, request.method, route.path) if isinstance(route, APIRoute) else None
    if rule is None:  # apply_policy makes this unreachable; refuse rather than assume
        raise ApiError(403, "forbidden", _("No access rule covers this route."))
    if rule.scope == "public":
        return None
    if credentials is None:
        raise ApiError(401, "unauthorized", _("A bearer token is required."))
    settings: Settings = request.app.state.settings
    principal = await decode_token(settings, credentials.credentials)
    if principal.role not in rule.roles:
        raise ApiError(
            403,
            "forbidden_role",
            _("This needs the role {roles}.", roles=" / ".join(sorted(rule.roles))),
            {"role": principal.role},
        )
    # A clerk's token always names a window of its own locality, whatever the route's scope.
    if rule.scope == "own_window" or (principal.role == "window_clerk" and principal.window_id):
        _check_window(principal, settings)
    if rule.scope == "province" and principal.locality != settings.province:
        raise ApiError(403, "not_province_admin", _("Only an admin of the province may do this."))
    return principal


def _check_window(principal: Principal, settings: Settings) -> None:
    if not principal.window_id:
        raise ApiError(403, "window_required", _("Only a clerk at a window may do this."))
    if window_locality(principal.window_id, settings.windows_file) != principal.locality:
        raise ApiError(
            403,
            "window_not_of_locality",
            _("The token's window is not a registered window of the token's locality."),
            {"window_id": principal.window_id, "locality": principal.locality},
        )


async def caller(principal: Annotated[Principal | None, Depends(authorize)]) -> Principal:
    if principal is None:  # a public route's handler asked for a caller
        raise ApiError(401, "unauthorized", _("A bearer token is required."))
    return principal


# The caller of a route, as the route's rule in POLICY lets them through.
Caller = Annotated[Principal, Depends(caller)]

assert all(rule.roles <= set(ROLES) for table in POLICY.values() for rule in table.values())
