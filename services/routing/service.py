"""Routing's use cases, shared by its HTTP API and its consumers."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.routing.db import AgreementRow, JurisdictionRuleRow
from services.routing.domain import Agreement, JurisdictionRule
from shared.db import upsert
from shared.reference.catalog import CATALOG

# Agreements a fresh local stack starts with (协同办理授权): 合肥 and 阜阳 windows handle each
# other's items, and 马鞍山 lets 阜阳 windows take its household items.
DEFAULT_AGREEMENTS: tuple[tuple[str, str, list[str], list[str]], ...] = (
    ("340100", "341200", ["*"], ["accept", "notify", "verify_original", "deliver"]),
    ("341200", "340100", ["*"], ["accept", "notify", "verify_original", "deliver"]),
    ("340500", "341200", ["GA-HJ-001"], ["accept", "notify", "verify_original", "deliver"]),
)


def to_rule(row: JurisdictionRuleRow) -> JurisdictionRule:
    return JurisdictionRule(
        item_code=row.item_code,
        jurisdiction=row.jurisdiction,  # type: ignore[arg-type]
        competent_level=row.competent_level,  # type: ignore[arg-type]
        department=row.department,
    )


def to_agreement(row: AgreementRow) -> Agreement:
    return Agreement(
        grantor_locality=row.grantor_locality,
        grantee_locality=row.grantee_locality,
        item_codes=tuple(row.item_codes),
        rights=frozenset(row.rights),
        valid_until=row.valid_until,
        revoked=row.revoked_at is not None,
    )


async def get_rule(session: AsyncSession, item_code: str) -> JurisdictionRule | None:
    row = await session.get(JurisdictionRuleRow, item_code)
    return to_rule(row) if row else None


async def active_agreements(session: AsyncSession) -> list[Agreement]:
    rows = await session.scalars(select(AgreementRow).where(AgreementRow.revoked_at.is_(None)))
    return [to_agreement(row) for row in rows]


async def seed(session: AsyncSession) -> None:
    """Rules follow the published catalog on every start; default agreements only once."""
    for item in CATALOG:
        await upsert(
            session,
            JurisdictionRuleRow,
            item_code=item.item_code,
            jurisdiction=item.jurisdiction,
            competent_level=item.competent_level,
            department=item.department,
        )
    if await session.scalar(select(AgreementRow.id).limit(1)) is None:
        for grantor, grantee, items, rights in DEFAULT_AGREEMENTS:
            session.add(
                AgreementRow(
                    id=str(uuid.uuid4()),
                    grantor_locality=grantor,
                    grantee_locality=grantee,
                    item_codes=items,
                    rights=rights,
                    created_by="seed",
                )
            )


def today() -> date:
    return datetime.now(UTC).date()
