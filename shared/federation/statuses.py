"""The way back (contracts/federation.md §10): the message types a competent province sends
about an application another province's window took, and the status each means for that
window's province. A table, not a guess from names: a type not in it moves no status."""

from __future__ import annotations

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
