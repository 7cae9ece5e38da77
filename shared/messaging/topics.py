"""Kafka topic names (the public contract of ARCHITECTURE.md)."""

from __future__ import annotations

from collections.abc import Iterable

INTAKE_EVENTS = "tongban.intake.events"
APPROVAL_EVENTS = "tongban.approval.events"
DELIVERY_EVENTS = "tongban.delivery.events"
ROUTING_EVENTS = "tongban.routing.events"
# 视频会商: consultations opened, joins and leaves, 原件核验 by video, recordings (全过程记录).
CONSULTATION_EVENTS = "tongban.consultation.events"
# Compacted: the latest record per key (a rule, an agreement) is routing's current state.
ROUTING_RULES = "tongban.routing.rules"
# Routing's signed checkpoints of the audit ledger's head (shared.audit.ledger).
AUDIT_CHECKPOINTS = "tongban.audit.checkpoints"
# 跨省通办: what routing hands to the federation gateway (its alone), and the gateway's log of
# every signed message in and out (read by routing's audit ledger). contracts/federation.md.
FEDERATION_OUTGOING = "tongban.federation.outgoing"
FEDERATION_EVENTS = "tongban.federation.events"
# What partner provinces' windows accepted for this province to decide (代收), for routing.
FEDERATION_INCOMING = "tongban.federation.incoming"
# What partners report back on applications this province handed over (no personal data).
FEDERATION_RESULTS = "tongban.federation.results"
APPROVAL_REQUESTS_PREFIX = "tongban.approval.requests."
DEAD_LETTER_SUFFIX = ".dlq"


def approval_requests(locality: str) -> str:
    """One topic per competent locality, so each local approval system reads only its own."""
    return f"{APPROVAL_REQUESTS_PREFIX}{locality}"


def approval_request_topics(localities: Iterable[str]) -> list[str]:
    return [approval_requests(code) for code in sorted(set(localities))]


def dead_letter(topic: str) -> str:
    return f"{topic}{DEAD_LETTER_SUFFIX}"
