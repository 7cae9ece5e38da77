"""The words the services share: statuses, rights, jurisdiction kinds, delivery methods.

Defined once as StrEnums, so a typo is a type error rather than a silent mismatch between two
services, and the values are exactly the strings of API.md and the event contracts.
"""

from __future__ import annotations

from enum import StrEnum


class ApplicationStatus(StrEnum):
    """An application's status as the window and the applicant see it (API.md)."""

    ACCEPTED = "accepted"
    ROUTED = "routed"
    IN_REVIEW = "in_review"
    SUPPLEMENT_REQUESTED = "supplement_requested"
    # 补正材料已提交: handed in at a window, until the competent locality resumes its review.
    SUPPLEMENT_SUBMITTED = "supplement_submitted"
    APPROVED = "approved"
    REJECTED = "rejected"
    READY_FOR_PICKUP = "ready_for_pickup"
    DISPATCHED = "dispatched"
    DELIVERED = "delivered"
    UNROUTABLE = "unroutable"
    # 一件事: withdrawn because a required member of its bundle was rejected.
    WITHDRAWN = "withdrawn"


class Right(StrEnum):
    """协同办理授权: what a trust agreement lets another locality's windows do."""

    ACCEPT = "accept"  # 收件受理权
    NOTIFY = "notify"  # 一次性告知权
    VERIFY_ORIGINAL = "verify_original"  # 原件核验权
    DELIVER = "deliver"  # 审批结果送达权


class Jurisdiction(StrEnum):
    """Whose locality is competent (属地) for an item."""

    HOUSEHOLD = "household"  # where the applicant's household is registered
    ENTERPRISE = "enterprise"  # where the enterprise is registered
    PROPERTY = "property"  # where the property lies
    PROVINCE = "province"  # the province itself


class CompetentLevel(StrEnum):
    """Which level of the locality decides."""

    CITY = "city"
    COUNTY = "county"


class DeliveryMethod(StrEnum):
    WINDOW_PICKUP = "window_pickup"
    POSTAL = "postal"


class CaseStatus(StrEnum):
    IN_REVIEW = "in_review"
    # 补正: waiting for materials from the applicant; the deadline clock is paused.
    SUPPLEMENT_REQUESTED = "supplement_requested"
    APPROVED = "approved"
    REJECTED = "rejected"
    # 移交: handed to another locality's approval; this locality no longer acts on it.
    TRANSFERRED = "transferred"
    # 一件事: closed undecided, its application withdrawn with its bundle.
    WITHDRAWN = "withdrawn"


class Decision(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"
    REQUEST_SUPPLEMENT = "request_supplement"


class PrintJobStatus(StrEnum):
    WAITING = "waiting"
    DELIVERED = "delivered"


class PostalStatus(StrEnum):
    AWAITING_CARRIER = "awaiting_carrier"  # not yet taken by the carrier (it may be down)
    DISPATCHED = "dispatched"  # the carrier took it and gave a tracking number
    IN_TRANSIT = "in_transit"  # picked up, on its way
    DELIVERED = "delivered"


class UnroutableReason(StrEnum):
    """Why routing could not hand an accepted application to a competent locality."""

    NO_RULE = "no_rule"  # routing has no jurisdiction rule for the item
    UNKNOWN_LOCALITY = "unknown_locality"  # the locality that decides is not one we know
    MISSING_LOCALITY = "missing_locality"  # the application lacks the locality the rule needs
    RIGHT_REVOKED = "right_revoked"  # the window's accept right was gone when it accepted
