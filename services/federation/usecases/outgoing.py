"""Sending to a partner province, store and forward: a message is written to the outbox in the
caller's transaction, and the sender hands it to the partner's gateway until that gateway
acknowledges it (200: accepted or already had it), retrying with backoff meanwhile. A partner
away for an hour gets each message once when it is back: the receiver deduplicates by id.

Each attempt is signed anew with the time of sending, so the receiver's freshness check holds
for a message that waited; the signature of the acknowledged attempt is kept with the row (the
proof of what was sent)."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.federation.db import OutgoingRow
from shared.canonical import canonical_json
from shared.crypto.keyring import SoftwareSigner
from shared.db import Database, insert_if_absent
from shared.federation.anchors import TrustedPartners
from shared.federation.messages import sign_message

log = logging.getLogger(__name__)

MESSAGES_PATH = "/v1/federation/messages"


async def enqueue(
    session: AsyncSession,
    *,
    to_province: str,
    type: str,
    body: dict[str, Any],
    message_id: str | None = None,
) -> str:
    """Queue a message in the caller's transaction; the same `message_id` twice queues it once
    (a redelivered Kafka event that asks for a hand-off asks once). NotCanonical for a body
    Tongban does not sign."""
    # Refused here (NotCanonical: a float, a huge integer), not at the first attempt to sign it:
    # a message that can never be signed would otherwise wait in the outbox for ever.
    canonical_json(body)
    message_id = message_id or str(uuid.uuid4())
    await insert_if_absent(
        session,
        OutgoingRow,
        message_id=message_id,
        to_province=to_province,
        type=type,
        body=body,
        application_no=application_of(body),
    )
    return message_id


def application_of(body: dict[str, Any]) -> str | None:
    """The application a message concerns (its body's `application_no`), if any."""
    number = body.get("application_no")
    return number[:32] if isinstance(number, str) else None


async def waiting(session: AsyncSession) -> list[dict[str, Any]]:
    """Per partner province, the messages not acknowledged yet: how many, since when, and the
    latest error (what an operator looks at while a partner is away)."""
    rows = await session.execute(
        select(
            OutgoingRow.to_province,
            func.count(),
            func.min(OutgoingRow.created_at),
            func.max(OutgoingRow.attempts),
        )
        .where(OutgoingRow.sent_at.is_(None))
        .group_by(OutgoingRow.to_province)
        .order_by(OutgoingRow.to_province)
    )
    found = []
    for province, count, oldest, attempts in rows:
        last_error = await session.scalar(
            select(OutgoingRow.last_error)
            .where(OutgoingRow.sent_at.is_(None), OutgoingRow.to_province == province)
            .where(OutgoingRow.last_error.is_not(None))
            .order_by(OutgoingRow.next_attempt_at.desc())
            .limit(1)
        )
        found.append(
            {
                "province": province,
                "waiting": count,
                "oldest": oldest.isoformat(),
                "most_attempts": attempts,
                "last_error": last_error,
            }
        )
    return found


@dataclass(frozen=True)
class Sender:
    """Hands due outbox rows to the partners' gateways."""

    db: Database
    client: httpx.AsyncClient  # mutual TLS: this gateway's certificate, the partners' CA
    partners: TrustedPartners
    signer: SoftwareSigner
    own_province: str
    retry_base: timedelta
    retry_max: timedelta

    def backoff(self, attempts: int) -> timedelta:
        return min(self.retry_base * (2 ** min(attempts - 1, 30)), self.retry_max)

    async def send_due(self, limit: int = 100) -> int:
        """Send due messages one by one (each in its own transaction, its row locked so two
        gateway processes never send it at once); the number acknowledged. A partner that
        could not be reached is not tried again in this round: a thousand messages queued for
        a partner that is away cost one failed connection per round, not a thousand."""
        acknowledged = 0
        unreachable: set[str] = set()
        for _ in range(limit):
            async with self.db.transaction() as session:
                query = (
                    select(OutgoingRow)
                    .where(OutgoingRow.sent_at.is_(None))
                    .where(OutgoingRow.next_attempt_at <= datetime.now(UTC))
                )
                if unreachable:
                    query = query.where(OutgoingRow.to_province.not_in(unreachable))
                row = await session.scalar(
                    query.order_by(OutgoingRow.next_attempt_at, OutgoingRow.seq)
                    .limit(1)
                    .with_for_update(skip_locked=True)
                )
                if row is None:
                    return acknowledged
                if await self._attempt(row):
                    acknowledged += 1
                else:
                    unreachable.add(row.to_province)
        return acknowledged

    async def _attempt(self, row: OutgoingRow) -> bool:
        row.attempts += 1
        anchor = self.partners.get(row.to_province)
        if anchor is None or not anchor.valid_at(datetime.now(UTC)):
            # Kept, not dropped: trust may be (re)established; the operator sees the error.
            return self._failed(row, f"no valid trusted anchor of province {row.to_province}")
        message = sign_message(
            self.signer,
            id=row.message_id,
            from_province=self.own_province,
            to_province=row.to_province,
            type=row.type,
            body=row.body,
        )
        try:
            response = await self.client.post(
                anchor.gateway_url + MESSAGES_PATH, json=message.as_json()
            )
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            return self._failed(row, f"{type(exc).__name__}: {exc}")
        if response.status_code != 200:
            return self._failed(row, f"HTTP {response.status_code}: {response.text[:200]}")
        row.sent_at = datetime.now(UTC)
        row.signed_time, row.signer, row.signature = (
            message.time,
            message.signer,
            message.signature,
        )
        row.last_error = None
        log.info("federation: %s %s acknowledged by %s", row.type, row.message_id, anchor.province)
        return True

    def _failed(self, row: OutgoingRow, error: str) -> bool:
        row.last_error = error[:1000]
        row.next_attempt_at = datetime.now(UTC) + self.backoff(row.attempts)
        log.warning(
            "federation: %s to province %s not delivered (attempt %d): %s",
            row.message_id,
            row.to_province,
            row.attempts,
            error,
        )
        return False
