"""Which events travel on which topic, declared once.

`CHANNELS` is the published statement of ARCHITECTURE.md's topic table: the contracts under
contracts/ (AsyncAPI channels) are generated from it, and every `Subscription` a service
declares (shared.messaging.subscriptions) is checked against it when the service starts, so a
handler can never wait for an event type that nobody publishes on the topics it reads.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from shared.messaging import events, topics
from shared.messaging.events import EventPayload

LOCALITY_PARAMETER = "{locality}"


@dataclass(frozen=True)
class Channel:
    """One topic (or one family of per-locality topics), who writes it and what travels on it."""

    id: str
    address: str  # a topic name, or a template with {locality}
    producer: str
    events: tuple[type[EventPayload], ...]
    description: str
    compacted: bool = False
    # Kept for ever, every record (not compacted, no time or size limit): what the topic says
    # is evidence that must outlive any database (the ledger's checkpoints).
    retained: bool = False
    # The payload field naming the locality whose topic of a per-locality family an event goes
    # to (and which a consumer checks against the topic it read it on, shared.messaging.signing).
    locality_field: str | None = None

    @property
    def event_types(self) -> tuple[str, ...]:
        return tuple(model.event_type for model in self.events)

    @property
    def per_locality(self) -> bool:
        return LOCALITY_PARAMETER in self.address

    def carries(self, topic: str) -> bool:
        """True if `topic` is this channel's topic (or one of its per-locality topics)."""
        if not self.per_locality:
            return topic == self.address
        return self.locality_of(topic) is not None

    def locality_of(self, topic: str) -> str | None:
        """The locality whose topic of this per-locality family `topic` is; None otherwise."""
        if not self.per_locality:
            return None
        prefix = self.address.split(LOCALITY_PARAMETER)[0]
        code = topic[len(prefix) :]
        return code if topic.startswith(prefix) and code.isdigit() else None

    def topic_for(self, payload: EventPayload) -> str:
        """The topic `payload` goes to on this channel: its address, or, for a per-locality
        family, the topic of the locality its `locality_field` names."""
        if not self.per_locality:
            return self.address
        locality = getattr(payload, self.locality_field or "", None)
        topic = self.address.replace(LOCALITY_PARAMETER, str(locality))
        if not isinstance(locality, str) or self.locality_of(topic) != locality:
            raise NoTopic(
                f"{payload.event_type} travels on {self.id}, one topic per locality, "
                f"but names no locality in `{self.locality_field}`"
            )
        return topic

    def topics(self, localities: Iterable[str]) -> list[str]:
        """Its topic, or its family's topic of each of `localities`."""
        if not self.per_locality:
            return [self.address]
        return [self.address.replace(LOCALITY_PARAMETER, code) for code in sorted(set(localities))]


CHANNELS: tuple[Channel, ...] = (
    Channel(
        "intakeEvents",
        topics.INTAKE_EVENTS,
        "intake",
        (
            events.ApplicationAccepted,
            events.ApplicationSupplemented,
            events.ApplicationEvaluated,
            events.ApplicationWithdrawn,
            events.BundleCompleted,
            events.CatalogPublished,
        ),
        "Applications accepted at any window of the province, materials handed in later (补正, "
        "容缺补交), the applicants' ratings of finished ones (好差评), the children of a failed "
        "bundle application withdrawn (一件事), and each version of the "
        "catalog the province publishes, with its items' jurisdiction rules.",
    ),
    Channel(
        "approvalRequests",
        topics.approval_requests(LOCALITY_PARAMETER),
        "routing",
        (events.ApplicationRouted, events.SupplementRouted, events.WithdrawalRouted),
        "Applications handed to one competent locality (first, or by 移交 from another), and "
        "the materials supplemented for them, and their withdrawal (一件事); one topic per "
        "locality: a local approval system subscribes to its own locality's topic only. Each "
        "application carries everything the review needs; scans travel as references (sha256) "
        "fetched through the approval API.",
        locality_field="competent_locality",
    ),
    Channel(
        "routingEvents",
        topics.ROUTING_EVENTS,
        "routing",
        (events.Routed, events.Unroutable, events.Transferred, events.DeliveryExpected),
        "Where each application went (and went on to, by 移交), or why it could not go "
        "anywhere. No personal data in clear: read "
        "by intake for the applicant's timeline and by anyone following progress; an "
        "application handed over to a partner province also says what delivery needs to hand "
        "the partner's certificate over (sealed for delivery).",
    ),
    Channel(
        "federationOutgoing",
        topics.FEDERATION_OUTGOING,
        "routing",
        (events.ApplicationHandedOver,),
        "异地代收代办: applications whose competent locality lies in a partner province, handed "
        "whole to this province's federation gateway, which alone reads the topic and sends each "
        "signed to the partner's gateway (contracts/federation.md).",
    ),
    Channel(
        "federationIncoming",
        topics.FEDERATION_INCOMING,
        "federation",
        (events.PartnerApplicationReceived,),
        "代收: applications a partner province's windows accepted for this province to decide, "
        "verified by the federation gateway (the partner's signature) and handed to routing, "
        "which places them with the competent locality like any accepted application.",
    ),
    Channel(
        "federationResults",
        topics.FEDERATION_RESULTS,
        "federation",
        (events.PartnerResultReceived, events.PartnerCertificateReceived),
        "What competent partner provinces report back on applications this province's windows "
        "handed over, as this province's statuses (a table, contracts/federation.md §10), for "
        "intake's timeline, and the partners' sealed certificates with the seal key each "
        "partner's anchor names, for delivery to print or post. No personal data in clear.",
    ),
    Channel(
        "federationEvents",
        topics.FEDERATION_EVENTS,
        "federation",
        (events.FederationMessageLogged, events.ScanReceived),
        "Every signed message the federation gateway sent to a partner province (once "
        "acknowledged) or received from one (once verified), with its signature and the SM3 "
        "digest of its body: the audit ledger chains each, the proof of what crossed the border; "
        "and each scan a partner sent on request, its digest checked and stored (ScanReceived).",
    ),
    Channel(
        "routingRules",
        topics.ROUTING_RULES,
        "routing",
        (events.JurisdictionRuleState, events.TrustAgreementState),
        "Routing's jurisdiction rules and trust agreements as state (event-carried state "
        "transfer), on a compacted topic: the latest record per key (`rule:<item_code>`, "
        "`agreement:<id>`) is the current state. Read from the beginning to build a replica.",
        compacted=True,
    ),
    Channel(
        "approvalEvents",
        topics.APPROVAL_EVENTS,
        "approval",
        (
            events.CaseOpened,
            events.CaseDeadlineWarning,
            events.CaseOverdue,
            events.CaseSupplementRequested,
            events.CaseResumed,
            events.CaseWithdrawn,
            events.CaseDeferredReminder,
            events.CaseTransferred,
            events.MaterialRead,
            events.ScanRequested,
            events.CaseViewed,
            events.ApplicationApproved,
            events.ApplicationRejected,
            events.CertificateIssued,
            events.CertificateRevoked,
            events.RejectionNoticeIssued,
        ),
        "Review cases opened, deadline warnings and overdue cases (限时办结), supplements "
        "requested and resumed (补正), deferred materials reminded (容缺), cases handed to "
        "another locality (移交), views of a case and reads of an applicant's scans (who, "
        "when), scans asked of the partner province whose window accepted the application "
        "(跨省通办), decisions taken, the sealed certificates issued (电子证照: the province's "
        "certificate registry) and revoked, and the sealed notices of rejections (不予许可决定书), "
        "for every locality of the province. No personal data in clear.",
    ),
    Channel(
        "deliveryEvents",
        topics.DELIVERY_EVENTS,
        "delivery",
        (
            events.CertificateReadyForPickup,
            events.CertificateDispatched,
            events.CertificateInTransit,
            events.CertificateDelivered,
        ),
        "Certificates queued for pickup at a window and handed over, or posted through a "
        "carrier (邮政寄递) with its tracking reports up to delivery.",
    ),
    Channel(
        "consultationEvents",
        topics.CONSULTATION_EVENTS,
        "consultation",
        (
            events.ConsultationOpened,
            events.ConsultationJoined,
            events.ConsultationLeft,
            events.ConsultationEnded,
            events.MaterialVerifiedByVideo,
            events.ConsultationRecorded,
        ),
        "视频会商收件 and 视频核验: a window's video consultations with the competent locality's "
        "reviewers, every join and leave, originals verified by video (原件核验), and the SM3 "
        "digest of each call's recording (全过程记录), which the audit ledger chains. Staff "
        "identifiers only, no personal data.",
    ),
    Channel(
        "auditCheckpoints",
        topics.AUDIT_CHECKPOINTS,
        "routing",
        (events.LedgerCheckpoint,),
        "Routing's SM2-signed statements of the audit ledger's head (区块链信任机制): every event "
        "of the other channels is an entry of an SM3 hash chain, and each checkpoint binds "
        "routing to every entry up to its seq. Keep them to hold routing to its ledger; "
        "contracts/audit-ledger.md says how to check one.",
        retained=True,
    ),
)


# Kafka's topic settings of a retained channel: delete (never compact), no limit of time or size.
RETAINED_FOR_EVER = {"cleanup.policy": "delete", "retention.ms": "-1", "retention.bytes": "-1"}


class NoTopic(LookupError):
    """An event the channel table cannot place: no channel carries its type, or it travels on a
    per-locality channel and names no locality."""


def _channels_by_event_type() -> dict[str, Channel]:
    """Each event type's one channel. An event type travels on exactly one channel, so the
    table alone decides where every event is published; a type declared twice is refused here,
    when the module loads, rather than sent to whichever channel comes first."""
    by_type: dict[str, Channel] = {}
    for channel in CHANNELS:
        if channel.per_locality and channel.locality_field is None:
            raise ValueError(f"channel {channel.id} is per locality but names no locality_field")
        for event_type in channel.event_types:
            if event_type in by_type:
                raise ValueError(
                    f"{event_type} is declared on both {by_type[event_type].id} and {channel.id}"
                )
            by_type[event_type] = channel
    return by_type


_BY_EVENT_TYPE = _channels_by_event_type()


def channel_carrying(event_type: str) -> Channel:
    """The channel events of `event_type` travel on."""
    try:
        return _BY_EVENT_TYPE[event_type]
    except KeyError:
        raise NoTopic(f"no channel carries {event_type}") from None


def topic_of(payload: EventPayload) -> str:
    """The topic `payload` is published on, as the channel table says (Outbox.add)."""
    return channel_carrying(payload.event_type).topic_for(payload)


def channel_of(topic: str) -> Channel:
    for channel in CHANNELS:
        if channel.carries(topic):
            return channel
    raise LookupError(f"no channel is declared for topic {topic}")
