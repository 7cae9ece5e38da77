"""The way back (contracts/federation.md §10): the message types a competent province sends
about an application another province's window took, and the status each means for that
window's province. A table, not a guess from names: a type not in it moves no status."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import AwareDatetime, TypeAdapter, ValidationError

from shared.vocabulary import ApplicationStatus

RESULT_STATUS: dict[str, ApplicationStatus] = {
    "case.opened": ApplicationStatus.IN_REVIEW,
    "case.supplement_requested": ApplicationStatus.SUPPLEMENT_REQUESTED,
    "case.resumed": ApplicationStatus.IN_REVIEW,
    "application.approved": ApplicationStatus.APPROVED,
    "application.rejected": ApplicationStatus.REJECTED,
    "certificate.ready_for_pickup": ApplicationStatus.READY_FOR_PICKUP,
    "certificate.dispatched": ApplicationStatus.DISPATCHED,
    "certificate.delivered": ApplicationStatus.DELIVERED,
}

# When the partner says each reported step happened: the field of the message's body (the
# partner's own event) that carries it. The window's timeline is ordered by it, so a step is
# listed when it happened there, not when its message came: Jiangsu's certificate and its
# approval come back as two messages, and this province may act on the first (the certificate
# ready at the window) before the second arrives.
RESULT_TIME: dict[str, str] = {
    "case.opened": "opened_at",
    "case.supplement_requested": "requested_at",
    "case.resumed": "resumed_at",
    "application.approved": "decided_at",
    "application.rejected": "decided_at",
    "certificate.ready_for_pickup": "queued_at",
    "certificate.dispatched": "dispatched_at",
    "certificate.delivered": "delivered_at",
}
_AWARE: TypeAdapter[datetime] = TypeAdapter(AwareDatetime)


def reported_time(message_type: str, body: dict[str, Any]) -> datetime | None:
    """When the partner's message says its step happened; None when it does not say (or says
    it in no readable, time-zoned form)."""
    field = RESULT_TIME.get(message_type)
    if field is None or body.get(field) is None:
        return None
    try:
        return _AWARE.validate_python(body[field])
    except ValidationError:
        return None
