"""Intake's replica of routing's jurisdiction rules and trust agreements.

Fed by the compacted `tongban.routing.rules` (shared.messaging.replica): intake decides the
competent locality and this window's rights at once, from memory, and keeps accepting while
routing is down. Routing checks again when it consumes the application, so the replica's lag
can delay the truth but never hide it.
"""

from __future__ import annotations

from shared.jurisdiction import Agreement, JurisdictionRule, RuleBook
from shared.messaging import events, topics
from shared.messaging.events import EventPayload
from shared.messaging.kafka import KafkaSecurity
from shared.messaging.replica import TopicReplica
from shared.messaging.signing import EventVerifier


class RulesReplica:
    # Read without a consumer group (the ACL table grants intake READ on it from here).
    TOPIC = topics.ROUTING_RULES

    def __init__(
        self,
        bootstrap_servers: str,
        verifier: EventVerifier | None = None,
        *,
        security: KafkaSecurity | None = None,
    ) -> None:
        self.book = RuleBook()
        self.follower = TopicReplica(
            topic=self.TOPIC,
            bootstrap_servers=bootstrap_servers,
            apply=self.apply,
            name="tongban-intake-rules",
            verifier=verifier,
            security=security,
        )

    def apply(self, payload: EventPayload) -> None:
        match payload:
            case events.JurisdictionRuleState():
                self.book.rules[payload.item_code] = JurisdictionRule(
                    item_code=payload.item_code,
                    jurisdiction=payload.jurisdiction,
                    competent_level=payload.competent_level,
                    department=payload.department,
                )
            case events.TrustAgreementState():
                self.book.agreements[payload.agreement_id] = Agreement(
                    id=payload.agreement_id,
                    grantor_locality=payload.grantor_locality,
                    grantee_locality=payload.grantee_locality,
                    item_codes=tuple(payload.item_codes),
                    rights=frozenset(payload.rights),
                    valid_until=payload.valid_until,
                    revoked_at=payload.revoked_at,
                )

    async def start(self) -> None:
        await self.follower.start()

    async def stop(self) -> None:
        await self.follower.stop()

    def readiness(self) -> dict[str, str]:
        """For /readyz: the replica was read to its end and is being followed."""
        ok = self.follower.caught_up and self.follower.following
        return {"routing_rules": "ok" if ok else "not following"}
