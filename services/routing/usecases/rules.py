"""Routing's rules and agreements as state: the jurisdiction rule book routing judges by, the
built-in catalog's rules put in place at start, a published catalog version taken in, and every
rule and agreement published on the compacted `tongban.routing.rules` (how intake's replica
learns of them)."""

from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.routing.db import AgreementRow, JurisdictionRuleRow
from shared.jurisdiction import Agreement, JurisdictionRule, RuleBook
from shared.messaging import events
from shared.messaging.outbox import Outbox
from shared.reference.catalog import CATALOG, CATALOG_VERSION
from shared.reference.localities import PROVINCE, city_of
from shared.vocabulary import CompetentLevel, Jurisdiction, Right


def to_rule(row: JurisdictionRuleRow) -> JurisdictionRule:
    return JurisdictionRule(
        item_code=row.item_code,
        jurisdiction=Jurisdiction(row.jurisdiction),
        competent_level=CompetentLevel(row.competent_level),
        department=row.department,
    )


def to_agreement(row: AgreementRow) -> Agreement:
    return Agreement(
        id=row.id,
        grantor_locality=row.grantor_locality,
        grantee_locality=row.grantee_locality,
        item_codes=tuple(row.item_codes),
        rights=frozenset(Right(right) for right in row.rights),
        valid_until=row.valid_until,
        revoked_at=row.revoked_at,
    )


def agreement_state(row: AgreementRow) -> events.TrustAgreementState:
    return events.TrustAgreementState(
        agreement_id=row.id,
        grantor_locality=row.grantor_locality,
        grantee_locality=row.grantee_locality,
        item_codes=list(row.item_codes),
        rights=[Right(right) for right in row.rights],
        valid_until=row.valid_until,
        revoked_at=row.revoked_at,
    )


def rule_state(rule: JurisdictionRule) -> events.JurisdictionRuleState:
    return events.JurisdictionRuleState(
        item_code=rule.item_code,
        jurisdiction=rule.jurisdiction,
        competent_level=rule.competent_level,
        department=rule.department,
    )


# Where a transaction keeps the rule books it read (the session's info dict; a session is one
# transaction, shared.db): a consumer's batch places its applications in one transaction, most
# of them under the same few items and windows, and each book costs two queries.
_BOOKS = "tongban.routing.rule_books"


async def rule_book(
    session: AsyncSession, item_code: str, receiving_locality: str | None
) -> RuleBook:
    """One item's rule, and the agreements that could grant anything to windows of the
    receiving locality (naming it, its city, its province or `*`), revoked ones included: a
    right is judged as it stood at a given moment. No receiving locality, no agreements.
    Read once per transaction (take_catalog, which changes rules, forgets what was read)."""
    books: dict[tuple[str, str | None], RuleBook] = session.info.setdefault(_BOOKS, {})
    book = books.get((item_code, receiving_locality))
    if book is None:
        book = books[item_code, receiving_locality] = await _read_rule_book(
            session, item_code, receiving_locality
        )
    return book


def forget_rule_books(session: AsyncSession) -> None:
    """Rules or agreements change in this transaction: what it read of them is read again."""
    session.info.pop(_BOOKS, None)


async def _read_rule_book(
    session: AsyncSession, item_code: str, receiving_locality: str | None
) -> RuleBook:
    rule_query = select(JurisdictionRuleRow).where(JurisdictionRuleRow.item_code == item_code)
    rules = [to_rule(row) for row in await session.scalars(rule_query)]
    agreements: list[Agreement] = []
    if receiving_locality:
        grantees = {receiving_locality, city_of(receiving_locality), PROVINCE, "*"}
        rows = await session.scalars(
            select(AgreementRow).where(AgreementRow.grantee_locality.in_(grantees))
        )
        agreements = [to_agreement(row) for row in rows]
    return RuleBook.of(rules, agreements)


_RULE_COLUMNS = ("jurisdiction", "competent_level", "department", "catalog_version")


async def publish_state(session: AsyncSession, outbox: Outbox) -> None:
    """At start: the built-in catalog's rules are put in place, and the whole state (every rule
    and every agreement) is published again. Compaction keeps one record per key, so this
    costs nothing and heals a broker that lost the topic.

    The built-in catalog inserts the rules that are missing and refreshes only those that are
    still its own: without a version (written before versions were recorded) or of the
    built-in version. A rule that came from another version the province published
    (`CatalogPublished`) is left as it is: overwriting it here, as every start once did, would
    revert that publication whenever routing restarts."""
    values = [
        {
            "item_code": item.item_code,
            "jurisdiction": item.jurisdiction,
            "competent_level": item.competent_level,
            "department": item.department,
            "catalog_version": CATALOG_VERSION,
        }
        for item in CATALOG
    ]
    statement = insert(JurisdictionRuleRow).values(values)
    statement = statement.on_conflict_do_update(
        index_elements=[JurisdictionRuleRow.item_code],
        set_={name: statement.excluded[name] for name in _RULE_COLUMNS},
        where=or_(
            JurisdictionRuleRow.catalog_version.is_(None),
            JurisdictionRuleRow.catalog_version == CATALOG_VERSION,
        ),
    )
    await session.execute(statement)
    for row in await session.scalars(select(JurisdictionRuleRow)):
        await outbox.add(session, rule_state(to_rule(row)))
    for agreement in await session.scalars(select(AgreementRow)):
        await outbox.add(session, agreement_state(agreement))


async def take_catalog(
    session: AsyncSession, outbox: Outbox, published: events.CatalogPublished
) -> None:
    """The province published a catalog version: its items' rules become routing's, and are
    published on `tongban.routing.rules` so intake's replica learns them (a new item can then be
    accepted). Events of two versions may arrive in either order (each version is its own key):
    a rule set by a version published later stays. The same event twice writes and publishes
    the same states again."""
    forget_rule_books(session)
    by_code = {rule.item_code: rule for rule in published.rules}
    statement = insert(JurisdictionRuleRow).values(
        [
            {
                "item_code": rule.item_code,
                "jurisdiction": rule.jurisdiction,
                "competent_level": rule.competent_level,
                "department": rule.department,
                "catalog_version": published.version,
                "catalog_published_at": published.published_at,
            }
            for rule in by_code.values()
        ]
    )
    newest = JurisdictionRuleRow.catalog_published_at
    upsert = statement.on_conflict_do_update(
        index_elements=[JurisdictionRuleRow.item_code],
        set_={name: statement.excluded[name] for name in (*_RULE_COLUMNS, "catalog_published_at")},
        where=or_(newest.is_(None), newest <= statement.excluded.catalog_published_at),
    ).returning(JurisdictionRuleRow)
    # populate_existing: rows already in the session take the values just written.
    taken = await session.scalars(upsert, execution_options={"populate_existing": True})
    for row in taken.all():
        await outbox.add(session, rule_state(to_rule(row)))
