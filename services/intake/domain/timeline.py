"""How an application's status and timeline move as events come back. Pure functions."""

from __future__ import annotations

from dataclasses import dataclass

from shared.messaging import events
from shared.reference.localities import get_locality
from shared.vocabulary import ApplicationStatus, PostalStatus

# Events from different topics may arrive out of order; the status only ever moves forward.
_RANK = {status: rank for rank, status in enumerate(ApplicationStatus)}
_RANK[ApplicationStatus.REJECTED] = _RANK[ApplicationStatus.UNROUTABLE] = _RANK[
    ApplicationStatus.APPROVED
]


# An application is finished once delivered or rejected: it may be rated, and takes no more
# supplements.
FINISHED = (ApplicationStatus.DELIVERED, ApplicationStatus.REJECTED)


@dataclass(frozen=True)
class TimelineFact:
    # None: a note on the timeline that leaves the status as it is (a reminder).
    status: ApplicationStatus | None
    locality: str
    note: str
    # Routing's own resolution (Routed, Transferred), which wins over the one intake made from
    # its replica; nothing else changes the competent locality.
    competent_locality: str | None = None
    # The statuses this fact may move back from: review resumes after a supplement, and a
    # transferred case is routed again. Everything else only moves forward.
    rewinds: frozenset[ApplicationStatus] = frozenset()
    # 补正: the materials the competent locality asked for.
    requested_materials: list[str] | None = None
    # What the timeline entry reads when it names a step finer than the application's status
    # (邮政寄递: `in_transit` while the application stays `dispatched`).
    entry_status: str | None = None


def timeline_fact(payload: events.EventPayload) -> TimelineFact | None:
    """What an incoming event means for the applicant's timeline."""
    match payload:
        case events.Routed():
            return TimelineFact(
                ApplicationStatus.ROUTED,
                payload.competent_locality,
                f"Sent to {_named(payload.competent_locality)}{payload.department}",
                competent_locality=payload.competent_locality,
            )
        case events.Unroutable():
            return TimelineFact(
                ApplicationStatus.UNROUTABLE,
                payload.receiving_locality,
                f"Cannot be routed ({payload.reason}): {payload.message}",
            )
        case events.Transferred():
            return TimelineFact(
                ApplicationStatus.ROUTED,
                payload.competent_locality,
                f"Transferred (移交) from {_named(payload.from_locality)} to "
                f"{_named(payload.competent_locality)}{payload.department}: {payload.reason}",
                competent_locality=payload.competent_locality,
                rewinds=_UNDER_REVIEW,
            )
        case events.CaseOpened():
            return TimelineFact(
                ApplicationStatus.IN_REVIEW,
                payload.locality,
                f"Under review, due {payload.deadline}",
            )
        case events.CaseSupplementRequested():
            return TimelineFact(
                ApplicationStatus.SUPPLEMENT_REQUESTED,
                payload.locality,
                f"Supplement requested (补正): {', '.join(payload.materials)}. {payload.reason}",
                requested_materials=list(payload.materials),
            )
        case events.CaseResumed():
            return TimelineFact(
                ApplicationStatus.IN_REVIEW,
                payload.locality,
                f"Supplement received, review resumed; due {payload.deadline} "
                f"({payload.paused_working_days} working days paused)",
                rewinds=frozenset({ApplicationStatus.SUPPLEMENT_REQUESTED}),
            )
        case events.CaseDeferredReminder():
            return TimelineFact(
                None,
                payload.locality,
                f"Reminder: deferred materials {', '.join(payload.materials)} are due on "
                f"{payload.due_on} (容缺)",
            )
        case events.ApplicationApproved():
            return TimelineFact(
                ApplicationStatus.APPROVED,
                payload.locality,
                f"Approved, certificate {payload.certificate_no}",
            )
        case events.ApplicationRejected():
            return TimelineFact(
                ApplicationStatus.REJECTED, payload.locality, payload.reason or "Rejected"
            )
        case events.RejectionNoticeIssued():
            # Comes just before the rejection: the window prints the notice by this number.
            return TimelineFact(
                None,
                payload.locality,
                f"Sealed notice of rejection (不予许可决定书) {payload.notice_no} issued",
            )
        case events.CertificateReadyForPickup():
            return TimelineFact(
                ApplicationStatus.READY_FOR_PICKUP,
                payload.locality,
                f"Ready for pickup at window {payload.window_id}",
            )
        case events.CertificateDispatched():
            return TimelineFact(
                ApplicationStatus.DISPATCHED,
                payload.locality,
                f"Dispatched by post ({payload.carrier}), tracking {payload.tracking_no}",
            )
        case events.CertificateInTransit():
            step = (
                "Picked up by the carrier" if payload.carrier_event == "picked_up" else "In transit"
            )
            return TimelineFact(
                # The carrier has it, so it was dispatched (whatever arrived first); the
                # application's status names no finer step than that.
                ApplicationStatus.DISPATCHED,
                payload.locality,
                f"{step}, tracking {payload.tracking_no}",
                entry_status=PostalStatus.IN_TRANSIT,
            )
        case events.CertificateDelivered(channel="postal"):
            tracking = f", tracking {payload.tracking_no}" if payload.tracking_no else ""
            return TimelineFact(
                ApplicationStatus.DELIVERED,
                payload.locality,
                f"Delivered by post{tracking}",
            )
        case events.CertificateDelivered():
            collector = f", to the {payload.collected_by}" if payload.collected_by else ""
            return TimelineFact(
                ApplicationStatus.DELIVERED,
                payload.locality,
                f"Delivered ({payload.channel}{collector})",
            )
    return None


def _named(code: str) -> str:
    locality = get_locality(code)
    return locality.name if locality else code


_UNDER_REVIEW = frozenset({ApplicationStatus.IN_REVIEW, ApplicationStatus.SUPPLEMENT_REQUESTED})


def status_after(
    current: ApplicationStatus, competent_locality: str, fact: TimelineFact
) -> ApplicationStatus:
    """The application's status once `fact` is on its timeline."""
    if fact.status is None:
        return current
    rewinds = fact.rewinds
    if fact.competent_locality == competent_locality and fact.status == ApplicationStatus.ROUTED:
        # The new locality's case opened before this transfer notice arrived: stay in review.
        rewinds = frozenset()
    return advanced_status(current, fact.status, rewinds)


def advanced_status(
    current: ApplicationStatus,
    new: ApplicationStatus,
    rewinds: frozenset[ApplicationStatus] = frozenset(),
) -> ApplicationStatus:
    """Forward only (events of different topics may arrive out of order), except the moves back
    a fact names in `rewinds`."""
    return new if current in rewinds or _RANK[new] > _RANK[current] else current
