"""Trust agreements: a grantor locality's administration lets another locality's windows act for
it, and may revoke that; each change is published on `tongban.routing.rules` in the same
transaction."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.routing.db import AgreementRow
from services.routing.usecases.rules import agreement_state, forget_rule_books
from shared import clock
from shared.auth import Principal
from shared.errors import Forbidden, Invalid, NotFound
from shared.i18n import _
from shared.messaging.outbox import Outbox
from shared.pagination import MAX_PAGE, page
from shared.reference.localities import is_known_locality, is_within
from shared.vocabulary import Right


@dataclass(frozen=True)
class GrantAgreement:
    """Command: the grantor's administration lets another locality's windows act for it."""

    grantor_locality: str
    grantee_locality: str
    item_codes: list[str]
    rights: list[Right]
    valid_until: date | None
    admin: Principal


@dataclass(frozen=True)
class StoredAgreement:
    """An agreement as routing keeps it: what it grants, who granted it and when, and when it
    was revoked, if it was."""

    id: str
    grantor_locality: str
    grantee_locality: str
    item_codes: tuple[str, ...]
    rights: tuple[Right, ...]
    valid_until: date | None
    created_at: datetime
    created_by: str
    revoked_at: datetime | None

    @classmethod
    def of(cls, row: AgreementRow) -> StoredAgreement:
        return cls(
            id=row.id,
            grantor_locality=row.grantor_locality,
            grantee_locality=row.grantee_locality,
            item_codes=tuple(row.item_codes),
            rights=tuple(Right(right) for right in row.rights),
            valid_until=row.valid_until,
            created_at=row.created_at,
            created_by=row.created_by,
            revoked_at=row.revoked_at,
        )


def _may_administer(admin: Principal, grantor: str) -> bool:
    return is_within(grantor, admin.locality)


async def grant_agreement(
    session: AsyncSession, outbox: Outbox, command: GrantAgreement
) -> StoredAgreement:
    if not _may_administer(command.admin, command.grantor_locality):
        raise Forbidden("not_grantor", _("Only the grantor locality's administration may grant."))
    for where, code in (
        ("grantor_locality", command.grantor_locality),
        ("grantee_locality", command.grantee_locality),
    ):
        if code != "*" and not is_known_locality(code):
            raise Invalid.of_field(
                "unknown_locality", _("Unknown locality code {locality}.", locality=code), where
            )
    row = AgreementRow(
        id=str(uuid.uuid4()),
        grantor_locality=command.grantor_locality,
        grantee_locality=command.grantee_locality,
        item_codes=command.item_codes,
        rights=[right for right in Right if right in command.rights],
        valid_until=command.valid_until,
        created_by=command.admin.sub,
        created_at=clock.now(),
    )
    session.add(row)
    await session.flush()
    forget_rule_books(session)
    await outbox.add(session, agreement_state(row))
    return StoredAgreement.of(row)


async def revoke_agreement(
    session: AsyncSession, outbox: Outbox, agreement_id: str, admin: Principal
) -> StoredAgreement:
    row = await session.get(AgreementRow, agreement_id, with_for_update=True)
    if row is None:
        raise NotFound("agreement_not_found", _("No such agreement."))
    if not _may_administer(admin, row.grantor_locality):
        raise Forbidden("not_grantor", _("Only the grantor locality's administration may revoke."))
    if row.revoked_at is None:
        row.revoked_at = clock.now()
        forget_rule_books(session)
        await outbox.add(session, agreement_state(row))
    return StoredAgreement.of(row)


async def list_agreements(
    session: AsyncSession, *, limit: int = MAX_PAGE, cursor: str | None = None
) -> tuple[list[StoredAgreement], str | None]:
    """Every agreement, in the order they were granted, a page at a time."""
    keys = [AgreementRow.created_at, AgreementRow.id]
    rows, next_cursor = await page(session, select(AgreementRow), keys, limit=limit, cursor=cursor)
    return [StoredAgreement.of(row) for row in rows], next_cursor
