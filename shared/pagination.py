"""Keyset pagination for list endpoints: at most 100 entries a page, and an opaque cursor for
the next one (`next_cursor`, null on the last page).

A cursor holds the sort key of the last entry of a page, so a page never repeats or skips an
entry when others are added in between (as an offset would).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from datetime import date, datetime
from typing import Annotated, Any, TypeVar

from fastapi import Query
from sqlalchemy import Select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from shared.errors import ApiError
from shared.i18n import _

MAX_PAGE = 100

Limit = Annotated[int, Query(ge=1, le=MAX_PAGE, description=f"Entries per page (≤ {MAX_PAGE})")]
Cursor = Annotated[
    str | None, Query(max_length=512, description="`next_cursor` of the previous page")
]

Row = TypeVar("Row")


def _encode(values: Sequence[Any]) -> str:
    plain = [v.isoformat() if isinstance(v, date | datetime) else v for v in values]
    return base64.urlsafe_b64encode(json.dumps(plain).encode()).decode().rstrip("=")


def _decode(cursor: str, keys: Sequence[InstrumentedAttribute[Any]]) -> list[Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if not isinstance(values, list) or len(values) != len(keys):
            raise ValueError("wrong shape")
        return [_typed(key, value) for key, value in zip(keys, values, strict=True)]
    except (ValueError, TypeError, binascii.Error) as exc:
        raise ApiError(
            422, "invalid_cursor", _("The cursor is not one this list gave out.")
        ) from exc


def _typed(key: InstrumentedAttribute[Any], value: Any) -> Any:
    kind = key.type.python_type
    if kind is datetime:
        return datetime.fromisoformat(value)
    if kind is date:
        return date.fromisoformat(value)
    if not isinstance(value, kind):
        raise ValueError(f"{key.key} is not a {kind.__name__}")
    return value


async def page(
    session: AsyncSession,
    query: Select[Row],
    keys: Sequence[InstrumentedAttribute[Any]],
    *,
    limit: int,
    cursor: str | None,
) -> tuple[list[Row], str | None]:
    """One page of `query` in ascending order of `keys` (unique together), and the cursor of
    the next page."""
    if cursor:
        query = query.where(tuple_(*keys) > tuple_(*_decode(cursor, keys)))
    rows = list(await session.scalars(query.order_by(*keys).limit(limit + 1)))
    if len(rows) <= limit:
        return rows, None
    last = rows[limit - 1]
    return rows[:limit], _encode([getattr(last, key.key) for key in keys])
