"""Where the paced load's accepted → case open goes, hop by hop, from what the services wrote.

Each service stamps its own rows: intake's outbox row of the acceptance (`sent_at`, once Kafka
acknowledged it), routing's inbox row of that event (`processed_at`: its consumer's transaction
began), routing's outbox row of the routed application (`sent_at`), approval's inbox row of that
(`processed_at`) and the case (`opened_at`). Read after the run, off its clock; an application
missing a stamp is left out of every hop.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from shared.settings import ServiceName, Settings

ACCEPTED = "gov.tongban.application.accepted.v1"
ROUTED = "gov.tongban.application.routed.v1"

HOPS = (
    "intake: accepted → acceptance sent to Kafka (outbox relay)",
    "Kafka → routing's consumer transaction begins",
    "routing: transaction → routed application sent (route, commit, relay)",
    "Kafka → approval's consumer transaction begins",
    "approval: transaction → case opened",
)


async def _rows(url: str, sql: str, **parameters: object) -> list[tuple[Any, ...]]:
    engine = create_async_engine(url, pool_size=1)
    try:
        async with engine.connect() as connection:
            return [tuple(row) for row in await connection.execute(text(sql), parameters)]
    finally:
        await engine.dispose()


async def _sent(
    settings: Settings, service: ServiceName, event_type: str, numbers: list[str]
) -> dict[str, tuple[str, datetime]]:
    rows = await _rows(
        settings.service_database_url(service),
        "SELECT subject, event_id, sent_at FROM outbox "
        "WHERE event_type = :type AND subject = ANY(:numbers) AND sent_at IS NOT NULL",
        type=event_type,
        numbers=numbers,
    )
    return {subject: (event_id, sent_at) for subject, event_id, sent_at in rows}


async def _began(
    settings: Settings, service: ServiceName, consumer: str, ids: Iterable[str]
) -> dict[str, datetime]:
    rows = await _rows(
        settings.service_database_url(service),
        "SELECT event_id, processed_at FROM inbox "
        "WHERE consumer = :consumer AND event_id = ANY(:ids)",
        consumer=consumer,
        ids=list(ids),
    )
    return {event_id: began for event_id, began in rows}


async def hop_breakdown(
    settings: Settings, accepted_at: Mapping[str, datetime], opened_at: Mapping[str, datetime]
) -> dict[str, list[float]]:
    """Hop (HOPS) → milliseconds, one value per application with every stamp."""
    numbers = sorted(set(accepted_at) & set(opened_at))
    accepted = await _sent(settings, "intake", ACCEPTED, numbers)
    routed = await _sent(settings, "routing", ROUTED, numbers)
    routing = await _began(
        settings, "routing", "tongban.routing", (e for e, _ in accepted.values())
    )
    approval = await _began(
        settings, "approval", "tongban.approval", (e for e, _ in routed.values())
    )
    hops: dict[str, list[float]] = {hop: [] for hop in HOPS}
    for number in numbers:
        if number not in accepted or number not in routed:
            continue
        (accepted_id, accepted_sent), (routed_id, routed_sent) = accepted[number], routed[number]
        if accepted_id not in routing or routed_id not in approval:
            continue
        stamps = (
            accepted_at[number],
            accepted_sent,
            routing[accepted_id],
            routed_sent,
            approval[routed_id],
            opened_at[number],
        )
        for hop, start, end in zip(HOPS, stamps, stamps[1:], strict=False):
            hops[hop].append((end - start).total_seconds() * 1000)
    return hops
