"""The texts of the notifications, one template per fact: a message catalog of their own (area
`sms`, shared/locale/zh_CN/LC_MESSAGES/sms.po; tooling/i18n.py), written in English and sent in
Chinese (SMS_LOCALE) unless a province sends another language.

Each names the application's number, so the applicant can tell which one it is and look it up.
None carries an ID number, a name or a phone number: a text is stored until sent, and a gateway
keeps what it sends.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from shared.i18n import DEFAULT, N_, translate

# The language the texts go out in: the province's (Chinese).
SMS_LOCALE = DEFAULT
# A supplement request's reason is the approver's free text; the SMS carries its start only
# (the whole request is on the portal's page of the application).
MAX_REASON_CHARS = 60


class Fact(StrEnum):
    ACCEPTED = "accepted"
    SUPPLEMENT_REQUESTED = "supplement_requested"
    DEFERRED_DUE = "deferred_due"
    APPROVED = "approved"
    REJECTED = "rejected"
    READY_FOR_PICKUP = "ready_for_pickup"
    DISPATCHED = "dispatched"
    DELIVERED = "delivered"
    # 一件事: one text for a whole bundle application (its number), not one per child.
    BUNDLE_READY = "bundle_ready"
    BUNDLE_DISPATCHED = "bundle_dispatched"
    BUNDLE_DELIVERED = "bundle_delivered"


TEMPLATES: dict[Fact, str] = {
    Fact.ACCEPTED: N_(
        "[Tongban] Your application {application_no} ({item}) has been accepted. Follow its "
        "progress on the portal."
    ),
    Fact.SUPPLEMENT_REQUESTED: N_(
        "[Tongban] Application {application_no}: please supplement {materials} ({reason}). "
        "Hand them in on the portal or at the window."
    ),
    Fact.DEFERRED_DUE: N_(
        "[Tongban] Application {application_no}: the deferred materials {materials} are due by "
        "{due_on}. Hand them in on the portal or at the window."
    ),
    Fact.APPROVED: N_(
        "[Tongban] Your application {application_no} ({item}) has been approved; certificate "
        "number {certificate_no}."
    ),
    Fact.REJECTED: N_(
        "[Tongban] Your application {application_no} was not approved; notice of rejection "
        "{notice_no}. The reasons are on the portal."
    ),
    Fact.READY_FOR_PICKUP: N_(
        "[Tongban] The result of application {application_no} is ready for pickup at {window}. "
        "Bring your ID card."
    ),
    Fact.DISPATCHED: N_(
        "[Tongban] The result of application {application_no} has been posted ({carrier}), "
        "tracking number {tracking_no}."
    ),
    Fact.DELIVERED: N_("[Tongban] The result of application {application_no} has been delivered."),
    Fact.BUNDLE_READY: N_(
        "[Tongban] Every result of your bundle application {application_no} is ready for pickup "
        "at {window}, all in one hand-over. Bring your ID card."
    ),
    Fact.BUNDLE_DISPATCHED: N_(
        "[Tongban] Every result of your bundle application {application_no} has been posted in "
        "one parcel ({carrier}), tracking number {tracking_no}."
    ),
    Fact.BUNDLE_DELIVERED: N_(
        "[Tongban] The results of bundle application {application_no} have been delivered."
    ),
}
# Joins a list of materials in a text.
LIST_SEPARATOR = N_(", ")
# A notice number not known (its announcement was not read): the text still goes out.
UNKNOWN_NOTICE = N_("(see the portal)")


def render(fact: Fact, params: dict[str, Any], locale: str = SMS_LOCALE) -> str:
    """The text of `fact` in `locale`, its placeholders filled from `params` (every one the
    template names; a missing one is a bug, and raises KeyError)."""
    return translate(TEMPLATES[fact], locale, params)


def listing(names: list[str], locale: str = SMS_LOCALE) -> str:
    return translate(LIST_SEPARATOR, locale).join(names)


def shortened(reason: str) -> str:
    reason = " ".join(reason.split())
    if len(reason) <= MAX_REASON_CHARS:
        return reason
    return reason[: MAX_REASON_CHARS - 1] + "…"
