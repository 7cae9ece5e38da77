"""Receiving a partner's message: checked before anything is written (shared.federation), then
kept once per (province, message id) with its signature, whatever number of times it comes."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncSession

from services.federation.db import IncomingRow
from services.federation.usecases import scans
from services.federation.usecases.outgoing import application_of
from shared.db import insert_if_absent
from shared.federation.anchors import TrustedPartners
from shared.federation.messages import Refusal, verify_message

log = logging.getLogger(__name__)

Outcome = Literal["accepted", "duplicate"]


def _shown(value: Any) -> str:
    # What a refused message claims, for the log: bounded, never its body.
    return repr(value)[:80] if value is not None else "-"


def check(data: Any, *, own_province: str, partners: TrustedPartners, max_skew: timedelta) -> Any:
    """The verified message; a refusal is logged (who it claims to be from, its id, the reason;
    never its body) and raised."""
    try:
        return verify_message(data, own_province=own_province, partners=partners, max_skew=max_skew)
    except Refusal as refusal:
        claimed = data if isinstance(data, dict) else {}
        log.warning(
            "federation: refused message %s from province %s: %s (%s)",
            _shown(claimed.get("id")),
            _shown(claimed.get("from_province")),
            refusal.reason,
            refusal.detail[:200],
        )
        raise


async def receive(
    session: AsyncSession,
    data: Any,
    *,
    own_province: str,
    partners: TrustedPartners,
    max_skew: timedelta,
    scan_store: scans.ScanStore | None = None,
) -> Outcome:
    """Refusal (nothing written) unless the message verifies; then kept unless it already was.
    Either answer is an acknowledgement: the sender stops resending. A scan or a request for
    one takes effect with it (scans.on_receipt), or is refused with nothing written."""
    message = check(data, own_province=own_province, partners=partners, max_skew=max_skew)
    new = await insert_if_absent(
        session,
        IncomingRow,
        from_province=message.from_province,
        message_id=message.id,
        type=message.type,
        body=message.body,
        signed_time=message.time,
        signer=message.signer,
        signature=message.signature,
        application_no=application_of(message.body),
    )
    if new and message.type in (scans.SCAN_REQUESTED, scans.SCAN):
        await scans.on_receipt(session, message, scan_store)
    if new:
        log.info(
            "federation: received %s %s from province %s",
            message.type,
            message.id,
            message.from_province,
        )
    return "accepted" if new else "duplicate"
