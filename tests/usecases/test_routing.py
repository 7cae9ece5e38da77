"""Routing's use cases against its real database: applications placed by the rules in force."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import event, select

from services.routing.db import RoutedApplicationRow
from services.routing.usecases import routing as placing
from services.routing.usecases import rules
from shared import clock
from shared.messaging import events
from shared.reference.catalog import get_item
from tests import factories
from tests.usecases.conftest import Unit


def accepted() -> events.ApplicationAccepted:
    return events.ApplicationAccepted.model_validate(
        factories.routed().model_dump(exclude={"routed_at"})
    )


def catalog(version: str, department: str, minutes: int) -> events.CatalogPublished:
    item = get_item(factories.ITEM_CODE)
    assert item is not None
    rule = events.CatalogRule(
        item_code=item.item_code,
        jurisdiction=item.jurisdiction,
        competent_level=item.competent_level,
        department=department,
    )
    published = clock.now() + timedelta(minutes=minutes)
    return events.CatalogPublished(version=version, published_at=published, rules=[rule])


async def test_a_batch_reads_an_items_rules_once_and_heeds_a_catalog_taken_within_it(
    routing: Unit,
) -> None:
    """A consumer's batch places its applications in one transaction: the rule book of an item
    is read once for all of them, and a catalog version taken in the same batch holds for the
    applications after it."""
    rule_reads: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if "FROM jurisdiction_rules" in statement or "FROM agreements" in statement:
            rule_reads.append(statement)

    event.listen(routing.connection.sync_connection, "before_cursor_execute", count)
    first, second, third = accepted(), accepted(), accepted()
    async with routing.transaction() as session:
        await rules.take_catalog(session, routing.outbox, catalog("2026.1-test", "甲局", 1))
        await placing.route_application(session, routing.outbox, first)
        reads_for_one = len(rule_reads)
        assert reads_for_one >= 1
        await placing.route_application(session, routing.outbox, second)
        assert len(rule_reads) == reads_for_one  # the same item and window: read once
        await rules.take_catalog(session, routing.outbox, catalog("2026.2-test", "乙局", 2))
        await placing.route_application(session, routing.outbox, third)
        assert len(rule_reads) == 2 * reads_for_one  # the catalog taken: read again
    async with routing.transaction() as session:
        placed = {
            row.application_no: (row.outcome, row.department)
            for row in await session.scalars(select(RoutedApplicationRow))
        }
    assert placed[first.application_no] == ("routed", "甲局")
    assert placed[second.application_no] == ("routed", "甲局")
    assert placed[third.application_no] == ("routed", "乙局")
