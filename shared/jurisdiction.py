"""Who is competent for an application (属地), and what a receiving locality may do for it
(协同办理授权信任机制).

Routing owns these rules and their data (jurisdiction rules, trust agreements); intake decides
from its own replica of that data, fed by `tongban.routing.rules`. Both apply the same pure
functions below, so the two can only disagree about *data* (a replica's lag), never about the
rules themselves. Times are China time: an agreement "valid until 2026-12-31" ends at midnight
in the service halls, not in UTC.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime

from shared.clock import CHINA_TZ
from shared.federation.agreements import AGREEMENTS
from shared.i18n import N_, _
from shared.reference.localities import PROVINCE, city_of, is_known_locality, is_within
from shared.vocabulary import CompetentLevel, Jurisdiction, Right, UnroutableReason

RIGHTS: tuple[Right, ...] = tuple(Right)


class JurisdictionError(ValueError):
    """The competent locality cannot be resolved; `field` names the input at fault (as the
    field of the resolve request: `applicant_locality` or `property_locality`).

    `str()` is the English message (an unroutable application's reason, a log line);
    `translated()` the same in the current locale, for a person's answer."""

    def __init__(
        self, reason: UnroutableReason, code: str, message: str, field: str, **params: str
    ) -> None:
        super().__init__(message.format_map(params))
        self.reason = reason
        self.code = code
        self.field = field
        self.template = message
        self.params = params

    def translated(self) -> str:
        return _(self.template, **self.params)


@dataclass(frozen=True)
class JurisdictionRule:
    item_code: str
    jurisdiction: Jurisdiction
    competent_level: CompetentLevel
    department: str


@dataclass(frozen=True)
class Agreement:
    """A grantor (the competent side) lets a grantee's windows act for it."""

    grantor_locality: str
    grantee_locality: str  # a code, or "*" for every window in the province
    item_codes: tuple[str, ...]  # codes, or ("*",)
    rights: frozenset[Right]
    valid_until: date | None = None
    revoked_at: datetime | None = None
    id: str = ""

    def in_force(self, at: datetime) -> bool:
        """Granted, not yet revoked and not expired at the moment `at`."""
        if self.revoked_at is not None and self.revoked_at <= at:
            return False
        return self.valid_until is None or at.astimezone(CHINA_TZ).date() <= self.valid_until


def competent_locality(
    rule: JurisdictionRule,
    *,
    applicant_locality: str,
    property_locality: str | None,
    province: str = PROVINCE,
) -> str:
    """属地: the locality whose department decides, from the item's jurisdiction rule."""
    if rule.jurisdiction == Jurisdiction.PROVINCE:
        return province
    if rule.jurisdiction == Jurisdiction.PROPERTY:
        if not property_locality:
            raise JurisdictionError(
                UnroutableReason.MISSING_LOCALITY,
                "property_locality_required",
                N_("This item is decided where the property lies."),
                "property_locality",
            )
        base, where = property_locality, "property_locality"
    else:  # household registration or enterprise registration: the applicant's own locality
        base, where = applicant_locality, "applicant_locality"
    if AGREEMENTS.is_partner_locality(base):
        # 跨省通办: decided in the partner province, at the level its agreement names.
        return AGREEMENTS.competent_in_partner(rule.item_code, base, rule.competent_level)
    if not is_known_locality(base):
        raise JurisdictionError(
            UnroutableReason.UNKNOWN_LOCALITY,
            "unknown_locality",
            N_("Unknown locality code {locality}."),
            where,
            locality=base,
        )
    return city_of(base) if rule.competent_level == CompetentLevel.CITY else base


def agreement_grants(
    agreement: Agreement,
    *,
    competent: str,
    receiving: str,
    item_code: str,
    right: Right,
    at: datetime,
) -> bool:
    if right not in agreement.rights or not agreement.in_force(at):
        return False
    if "*" not in agreement.item_codes and item_code not in agreement.item_codes:
        return False
    # A city's agreement covers its counties on either side.
    if not is_within(competent, agreement.grantor_locality):
        return False
    if agreement.grantee_locality == "*":  # every window in the province, none outside it
        return is_within(receiving, PROVINCE)
    return is_within(receiving, agreement.grantee_locality)


def rights_of(
    receiving: str,
    competent: str,
    item_code: str,
    agreements: Iterable[Agreement],
    *,
    at: datetime,
) -> list[Right]:
    """The rights a receiving locality's windows hold for this item at the moment `at`."""
    if competent[:2] != receiving[:2]:
        # Another province decides: only a 跨省通办 agreement grants anything.
        granted = AGREEMENTS.rights(item_code, competent=competent, receiving=receiving, at=at)
        return [right for right in RIGHTS if right in granted]
    if is_within(receiving, competent):
        # Its own territory needs no agreement; for a province-level item that is every window
        # in the province.
        return list(RIGHTS)
    agreements = list(agreements)
    return [
        right
        for right in RIGHTS
        if any(
            agreement_grants(
                agreement,
                competent=competent,
                receiving=receiving,
                item_code=item_code,
                right=right,
                at=at,
            )
            for agreement in agreements
        )
    ]


@dataclass(frozen=True)
class Resolution:
    """Where an application goes, and what the receiving window may do for it."""

    competent_locality: str
    department: str
    receiving_rights: frozenset[Right]


@dataclass
class RuleBook:
    """Jurisdiction rules and trust agreements, keyed as routing publishes them: routing builds
    one from its tables, intake keeps one as its replica of `tongban.routing.rules`."""

    rules: dict[str, JurisdictionRule] = field(default_factory=dict)
    agreements: dict[str, Agreement] = field(default_factory=dict)

    def resolve(
        self,
        *,
        item_code: str,
        applicant_locality: str,
        property_locality: str | None,
        receiving_locality: str,
        at: datetime,
    ) -> Resolution | None:
        """None when there is no rule for the item; JurisdictionError when the localities do
        not resolve."""
        rule = self.rules.get(item_code)
        if rule is None:
            return None
        competent = competent_locality(
            rule, applicant_locality=applicant_locality, property_locality=property_locality
        )
        rights = self.rights(receiving_locality, competent, item_code, at=at)
        return Resolution(competent, rule.department, rights)

    def rights(
        self, receiving: str, competent: str, item_code: str, *, at: datetime
    ) -> frozenset[Right]:
        """What windows of `receiving` may do for `competent` on this item at `at`."""
        return frozenset(
            rights_of(receiving, competent, item_code, self.agreements.values(), at=at)
        )

    @classmethod
    def of(cls, rules: Iterable[JurisdictionRule], agreements: Iterable[Agreement]) -> RuleBook:
        return cls({r.item_code: r for r in rules}, {a.id: a for a in agreements})
