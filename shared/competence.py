"""The competent locality as routing made it, checked by every consumer of approval's events.

A locality's seal proves which locality states a fact (shared.messaging.signing); it does not
prove that this locality may state it for this application. Only routing decides that: its
signed `Routed` and `Transferred` facts (tongban.routing.events) name the competent locality
of each application, and each consumer that acts on approval's events (intake, delivery) keeps
the latest one and checks every approval-side event against it before any effect. A decision,
case or certificate for 合肥's application correctly sealed by 芜湖 is refused for good
(dead-lettered, no effect).

Ordering: routing's fact and approval's event travel on different topics, and routing's fact
comes first only in time, not necessarily in what a consumer reads first. An approval event
for an application routing has not yet been read to route is therefore retried with backoff
(`NotYetRouted`, shared.messaging.consumer.NotYet) by a runner that does not also read routing's
topic, while another runner takes routing's facts in; if the fact still has not come when the
wait runs out, the event is dead-lettered for operators (it can be replayed). The same holds
for the locality a case is transferred to (移交): the giving locality's CaseTransferred comes
before the new locality's events on the application's partition of tongban.approval.events, so
a consumer knows a transfer is under way before routing's fact says where the case now lies.
"At that time" is the competence as the consumer knows it when it handles the event: the
giving locality says nothing more once its transfer is read.
"""

from __future__ import annotations

from shared.jurisdiction import JurisdictionRule
from shared.messaging.consumer import NotYet, PermanentError
from shared.messaging.events import EventPayload
from shared.messaging.signing import SPEAKS_FOR
from shared.reference.localities import PROVINCE, get_locality
from shared.vocabulary import CompetentLevel, Jurisdiction


class NotCompetent(PermanentError):
    """The locality that states the fact is not the one routing made competent."""


class NotYetRouted(NotYet):
    """No routing fact for the application has been read yet."""


def speaking_locality(payload: EventPayload) -> str | None:
    """The locality an approval event speaks for (its seal signed it); None for other events."""
    field = SPEAKS_FOR.get(type(payload))
    if field is None:
        return None
    locality = getattr(payload, field)
    return str(locality)


def check_competent(
    payload: EventPayload,
    application_no: str,
    competent: str | None,
    transferring_to: str | None = None,
) -> None:
    """Refuse an approval event that does not come from `competent`, the locality routing's
    latest fact made competent for `application_no` (None: no fact read yet).

    `transferring_to`: the competent locality has handed the case on (its CaseTransferred was
    read) and routing's fact of the transfer is still on its way. The case is then nobody's
    for a moment: the locality it goes to waits for routing's fact (its case may open before
    this consumer reads that fact), the one that gave it up says nothing more."""
    locality = speaking_locality(payload)
    if locality is None:
        return
    if competent is None:
        raise NotYetRouted(f"routing has not yet been read to route {application_no}")
    if transferring_to is not None:
        if locality == transferring_to:
            raise NotYetRouted(
                f"routing's transfer of {application_no} to {locality} has not yet been read"
            )
        raise NotCompetent(
            f"{payload.event_type} from {locality}, but {competent} handed {application_no} "
            f"on to {transferring_to}"
        )
    if locality != competent:
        raise NotCompetent(
            f"{payload.event_type} from {locality}, but routing made {competent} competent "
            f"for {application_no}"
        )


def may_be_competent(rule: JurisdictionRule, locality: str) -> bool:
    """Could `locality` be competent for an item with this rule, for some applicant? (The
    province for province items; a city or a county, as the rule's level says, otherwise.)"""
    if rule.jurisdiction == Jurisdiction.PROVINCE:
        return locality == PROVINCE
    known = get_locality(locality)
    if known is None:
        return False
    wanted = "city" if rule.competent_level == CompetentLevel.CITY else "county"
    return known.level == wanted
