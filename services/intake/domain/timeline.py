"""How an application's status and timeline move as events come back. Pure functions."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from shared.i18n import ENGLISH, N_, translate
from shared.messaging import events
from shared.reference.localities import get_locality
from shared.vocabulary import ApplicationStatus, PostalStatus

# Events from different topics may arrive out of order; the status only ever moves forward.
_RANK = {status: rank for rank, status in enumerate(ApplicationStatus)}
_RANK[ApplicationStatus.REJECTED] = _RANK[ApplicationStatus.UNROUTABLE] = _RANK[
    ApplicationStatus.WITHDRAWN
] = _RANK[ApplicationStatus.APPROVED]


# An application is finished once delivered or rejected: it may be rated, and takes no more
# supplements.
FINISHED = (ApplicationStatus.DELIVERED, ApplicationStatus.REJECTED)


@dataclass(frozen=True)
class TimelineFact:
    # None: a note on the timeline that leaves the status as it is (a reminder).
    status: ApplicationStatus | None
    locality: str
    # The note's English source (marked for the catalog) and what fills its {placeholders}:
    # stored so, and translated when read, into the reader's language (`note_text`).
    note: str
    note_params: Mapping[str, Any] | None = field(default_factory=dict)
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
                N_("Sent to {locality}{department}"),
                {"locality": payload.competent_locality, "department": payload.department},
                competent_locality=payload.competent_locality,
            )
        case events.PartnerResultReceived():
            return TimelineFact(
                payload.status,
                payload.locality,
                N_("Reported by the partner province ({province}): {message_type}"),
                {"province": payload.from_province, "message_type": payload.message_type},
                # Review goes on after a supplement there as here.
                rewinds=frozenset({ApplicationStatus.SUPPLEMENT_REQUESTED}),
            )
        case events.Unroutable():
            return TimelineFact(
                ApplicationStatus.UNROUTABLE,
                payload.receiving_locality,
                N_("Cannot be routed ({reason}): {message}"),
                {"reason": payload.reason, "message": payload.message},
            )
        case events.Transferred():
            return TimelineFact(
                ApplicationStatus.ROUTED,
                payload.competent_locality,
                N_("Transferred (移交) from {from_locality} to {locality}{department}: {reason}"),
                {
                    "from_locality": payload.from_locality,
                    "locality": payload.competent_locality,
                    "department": payload.department,
                    "reason": payload.reason,
                },
                competent_locality=payload.competent_locality,
                rewinds=_UNDER_REVIEW,
            )
        case events.CaseOpened():
            return TimelineFact(
                ApplicationStatus.IN_REVIEW,
                payload.locality,
                N_("Under review, due {deadline}"),
                {"deadline": payload.deadline.isoformat()},
            )
        case events.CaseSupplementRequested():
            return TimelineFact(
                ApplicationStatus.SUPPLEMENT_REQUESTED,
                payload.locality,
                N_("Supplement requested (补正): {materials}. {reason}"),
                {"materials": list(payload.materials), "reason": payload.reason},
                requested_materials=list(payload.materials),
            )
        case events.CaseResumed():
            return TimelineFact(
                ApplicationStatus.IN_REVIEW,
                payload.locality,
                N_(
                    "Supplement received, review resumed; due {deadline} "
                    "({paused_working_days} working days paused)"
                ),
                {
                    "deadline": payload.deadline.isoformat(),
                    "paused_working_days": payload.paused_working_days,
                },
                rewinds=frozenset(
                    {ApplicationStatus.SUPPLEMENT_REQUESTED, ApplicationStatus.SUPPLEMENT_SUBMITTED}
                ),
            )
        # 视频会商 (services/consultation): notes only, the status stays.
        case events.ConsultationEnded():
            return TimelineFact(
                None,
                payload.locality,
                N_(
                    "Video consultation (视频会商) with the competent locality, {seconds} s in call"
                ),
                {"seconds": payload.in_call_seconds},
            )
        case events.MaterialVerifiedByVideo():
            return TimelineFact(
                None,
                payload.locality,
                N_("Original of {material} verified by video (原件核验)"),
                {"material": payload.material_code},
            )
        case events.CaseWithdrawn():
            return TimelineFact(
                ApplicationStatus.WITHDRAWN,
                payload.locality,
                N_("Withdrawn, the review closed: {reason}"),
                {"reason": payload.reason},
            )
        case events.CertificateRevoked():
            return TimelineFact(
                None,
                payload.locality,
                N_("Certificate {certificate_no} revoked: {reason}"),
                {"certificate_no": payload.certificate_no, "reason": payload.reason},
            )
        case events.CaseDeferredReminder():
            return TimelineFact(
                None,
                payload.locality,
                N_("Reminder: deferred materials {materials} are due on {due_on} (容缺)"),
                {"materials": list(payload.materials), "due_on": payload.due_on.isoformat()},
            )
        case events.ApplicationApproved():
            return TimelineFact(
                ApplicationStatus.APPROVED,
                payload.locality,
                N_("Approved, certificate {certificate_no}"),
                {"certificate_no": payload.certificate_no},
            )
        case events.ApplicationRejected() if payload.reason:
            # The approver's own words, shown as written in every language.
            return TimelineFact(
                ApplicationStatus.REJECTED, payload.locality, payload.reason, AS_WRITTEN
            )
        case events.ApplicationRejected():
            return TimelineFact(ApplicationStatus.REJECTED, payload.locality, N_("Rejected"))
        case events.RejectionNoticeIssued():
            # Comes just before the rejection: the window prints the notice by this number.
            return TimelineFact(
                None,
                payload.locality,
                N_("Sealed notice of rejection (不予许可决定书) {notice_no} issued"),
                {"notice_no": payload.notice_no},
            )
        case events.CertificateReadyForPickup():
            return TimelineFact(
                ApplicationStatus.READY_FOR_PICKUP,
                payload.locality,
                N_("Ready for pickup at window {window_id}"),
                {"window_id": payload.window_id},
            )
        case events.CertificateDispatched():
            return TimelineFact(
                ApplicationStatus.DISPATCHED,
                payload.locality,
                N_("Dispatched by post ({carrier}), tracking {tracking_no}"),
                {"carrier": payload.carrier, "tracking_no": payload.tracking_no},
            )
        case events.CertificateInTransit():
            return TimelineFact(
                # The carrier has it, so it was dispatched (whatever arrived first); the
                # application's status names no finer step than that.
                ApplicationStatus.DISPATCHED,
                payload.locality,
                (
                    N_("Picked up by the carrier, tracking {tracking_no}")
                    if payload.carrier_event == "picked_up"
                    else N_("In transit, tracking {tracking_no}")
                ),
                {"tracking_no": payload.tracking_no},
                entry_status=PostalStatus.IN_TRANSIT,
            )
        case events.CertificateDelivered(channel="postal"):
            if payload.tracking_no:
                note = N_("Delivered by post, tracking {tracking_no}")
                params: dict[str, Any] = {"tracking_no": payload.tracking_no}
            else:
                note, params = N_("Delivered by post"), {}
            return TimelineFact(ApplicationStatus.DELIVERED, payload.locality, note, params)
        case events.CertificateDelivered():
            return TimelineFact(
                ApplicationStatus.DELIVERED,
                payload.locality,
                _DELIVERED_AT_WINDOW[payload.collected_by],
            )
    return None


# Who collected at the window: each its own sentence, since the languages word them apart.
_DELIVERED_AT_WINDOW = {
    "applicant": N_("Delivered (window, to the applicant)"),
    "agent": N_("Delivered (window, to the agent)"),
    None: N_("Delivered (window)"),
}

# A note to be shown exactly as written (an approver's reason): no parameters, no translation.
AS_WRITTEN: Mapping[str, Any] | None = None

# Parameters holding locality codes, shown by name (合肥市).
_LOCALITY_PARAMS = frozenset({"locality", "from_locality"})
# Parameters holding a list of material codes, shown by the materials' names.
_MATERIAL_PARAMS = frozenset({"materials"})


def note_text(
    note: str,
    params: Mapping[str, Any] | None,
    locale: str,
    material_names: Mapping[str, str] | None = None,
) -> str:
    """A timeline note as `locale` reads it: its source translated, localities named and
    materials named where `material_names` (code: name, from the item's catalog version) knows
    them. A note without parameters (None: an entry written before notes were stored so, or an
    approver's reason) is shown as written."""
    if params is None:
        return note
    names = material_names or {}
    separator = ", " if locale == ENGLISH else "、"  # 居民身份证、户口簿
    shown: dict[str, Any] = {}
    for name, value in params.items():
        if name in _LOCALITY_PARAMS:
            shown[name] = _named(value)
        elif name in _MATERIAL_PARAMS:
            shown[name] = separator.join(names.get(code, code) for code in value)
        else:
            shown[name] = value
    return translate(note, locale, shown)


def _named(code: str) -> str:
    locality = get_locality(code)
    return locality.name if locality else code


_UNDER_REVIEW = frozenset(
    {
        ApplicationStatus.IN_REVIEW,
        ApplicationStatus.SUPPLEMENT_REQUESTED,
        ApplicationStatus.SUPPLEMENT_SUBMITTED,
    }
)


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


def status_after_supplement(current: ApplicationStatus, answers_request: bool) -> ApplicationStatus:
    """补正材料已提交: once what the competent locality asked for is handed in, the application
    says so until its review resumes (CaseResumed). Deferred materials (容缺) handed in during
    review change nothing."""
    if answers_request and current == ApplicationStatus.SUPPLEMENT_REQUESTED:
        return ApplicationStatus.SUPPLEMENT_SUBMITTED
    return current
