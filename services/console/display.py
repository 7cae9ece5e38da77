"""How the console words what the services answer in codes: statuses, event types, items,
localities and moments, in the operator's language (shared.i18n) and China time.

The services' answers keep their codes (programs depend on them); the console puts the words
people read beside them, and falls back to the code for one it does not know.
"""

from __future__ import annotations

from datetime import datetime

from shared.clock import in_china
from shared.i18n import N_, _
from shared.reference.catalog import get_item
from shared.reference.localities import get_locality

APPLICATION_STATUS = {
    "accepted": N_("Accepted"),
    "routed": N_("Routed"),
    "in_review": N_("In review"),
    "supplement_requested": N_("Waiting for a supplement"),
    "supplement_submitted": N_("Supplement handed in"),
    "approved": N_("Approved"),
    "rejected": N_("Rejected"),
    "ready_for_pickup": N_("Ready for pickup"),
    "dispatched": N_("Posted"),
    "in_transit": N_("In transit"),
    "delivered": N_("Delivered"),
    "unroutable": N_("Cannot be routed"),
    "transferred": N_("Transferred"),
    "withdrawn": N_("Withdrawn"),
}

# What happened, for each event type of shared.messaging.events.EVENT_TYPES (a unit test holds
# the two together).
EVENT_DESCRIPTIONS = {
    "gov.tongban.application.accepted.v1": N_("Accepted at a window"),
    "gov.tongban.application.supplemented.v1": N_("Supplement handed in"),
    "gov.tongban.application.supplement_routed.v1": N_("Supplement forwarded for review"),
    "gov.tongban.application.evaluated.v1": N_("Rated by the applicant"),
    "gov.tongban.application.routed.v1": N_("Assigned to the competent locality"),
    "gov.tongban.routing.routed.v1": N_("Routed to the competent locality"),
    "gov.tongban.routing.unroutable.v1": N_("No competent locality found"),
    "gov.tongban.routing.handed_over.v1": N_("Handed over to the partner province (跨省通办)"),
    "gov.tongban.federation.message_logged.v1": N_("Cross-province message signed and logged"),
    "gov.tongban.federation.result_received.v1": N_("Reported back by the partner province"),
    "gov.tongban.federation.application_received.v1": N_(
        "Received from the partner province's window (代收)"
    ),
    "gov.tongban.routing.delivery_expected.v1": N_(
        "Delivery of the partner province's result expected at this province's window"
    ),
    "gov.tongban.federation.certificate_received.v1": N_(
        "Partner province's sealed certificate received for delivery"
    ),
    "gov.tongban.case.scan_requested.v1": N_("Scan requested from the partner province"),
    "gov.tongban.federation.scan_received.v1": N_(
        "Scan received from the partner province, digest checked"
    ),
    "gov.tongban.routing.transferred.v1": N_("Re-routed after a transfer"),
    "gov.tongban.routing.jurisdiction_rule.v1": N_("Jurisdiction rule published"),
    "gov.tongban.routing.trust_agreement.v1": N_("Trust agreement published"),
    "gov.tongban.catalog.published.v1": N_("Catalog version published"),
    "gov.tongban.case.opened.v1": N_("Review started"),
    "gov.tongban.case.deadline_warning.v1": N_("Deadline drawing near"),
    "gov.tongban.case.overdue.v1": N_("Deadline passed"),
    "gov.tongban.case.supplement_requested.v1": N_("Supplement requested"),
    "gov.tongban.case.resumed.v1": N_("Review resumed"),
    "gov.tongban.case.withdrawn.v1": N_("Case closed, application withdrawn"),
    "gov.tongban.application.withdrawn.v1": N_("Withdrawn with its bundle"),
    "gov.tongban.application.withdrawal_routed.v1": N_("Withdrawal forwarded to the case"),
    "gov.tongban.bundle.completed.v1": N_("Bundle application complete"),
    "gov.tongban.case.deferred_reminder.v1": N_("Deferred materials reminded"),
    "gov.tongban.case.transferred.v1": N_("Handed to another locality"),
    "gov.tongban.case.material_read.v1": N_("Scan read by a reviewer"),
    "gov.tongban.case.viewed.v1": N_("Case opened by a reviewer"),
    "gov.tongban.certificate.issued.v1": N_("Certificate issued"),
    "gov.tongban.certificate.revoked.v1": N_("Certificate revoked"),
    "gov.tongban.rejection_notice.issued.v1": N_("Rejection notice issued"),
    "gov.tongban.application.approved.v1": N_("Application approved"),
    "gov.tongban.application.rejected.v1": N_("Application rejected"),
    "gov.tongban.certificate.ready_for_pickup.v1": N_("Certificate waiting at the window"),
    "gov.tongban.certificate.delivered.v1": N_("Certificate handed over"),
    "gov.tongban.certificate.dispatched.v1": N_("Certificate posted"),
    "gov.tongban.certificate.in_transit.v1": N_("Certificate on its way"),
    "gov.tongban.audit.checkpoint.v1": N_("Ledger checkpoint published"),
    "gov.tongban.consultation.opened.v1": N_("Video consultation requested"),
    "gov.tongban.consultation.joined.v1": N_("Joined the video consultation"),
    "gov.tongban.consultation.left.v1": N_("Left the video consultation"),
    "gov.tongban.consultation.ended.v1": N_("Video consultation ended"),
    "gov.tongban.consultation.material_verified.v1": N_("Original verified by video"),
    "gov.tongban.consultation.recorded.v1": N_("Video consultation recorded"),
}

ROLE_NAMES = {"operator": N_("Operator"), "admin": N_("Administrator")}


def status_name(status: str | None) -> str:
    """An application's or a case's status in words; an unknown one as its code."""
    if not status:
        return ""
    known = APPLICATION_STATUS.get(status)
    return _(known) if known else status


def event_description(event_type: str | None) -> str:
    """What an event says happened; an unknown type as its code."""
    if not event_type:
        return ""
    known = EVENT_DESCRIPTIONS.get(event_type)
    return _(known) if known else event_type


def role_name(role: str) -> str:
    known = ROLE_NAMES.get(role)
    return _(known) if known else role


def item_name(code: str | None) -> str:
    """An item by its name with its code (名称（代码）), the code alone if the catalog lacks
    it. Names are the catalog's, in Chinese whatever the language."""
    if not code:
        return ""
    known = get_item(code)
    return _("{name} ({code})", name=known.name, code=code) if known else code


def locality_name(code: str | None) -> str:
    if not code:
        return ""
    known = get_locality(code)
    return _("{name} ({code})", name=known.name, code=code) if known else code


def moment(value: str | datetime | None) -> datetime | None:
    """A moment of an answer (ISO 8601 text, any offset, or a datetime) in China time."""
    if value is None or value == "":
        return None
    at = datetime.fromisoformat(value) if isinstance(value, str) else value
    return in_china(at)


def china_time(value: str | datetime | None) -> str:
    """A moment as people in the service halls read it, with the zone said:
    `2026-12-02 18:20:05 (Beijing time)`."""
    at = moment(value)
    if at is None:
        return ""
    return _("{time} (Beijing time)", time=at.strftime("%Y-%m-%d %H:%M:%S"))


def iso_time(value: str | datetime | None) -> str:
    """The same moment for a <time datetime> attribute (ISO 8601, +08:00)."""
    at = moment(value)
    return at.isoformat() if at else ""
