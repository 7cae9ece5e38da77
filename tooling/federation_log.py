"""`tongban federation log APPLICATION`: a case's cross-border messages with their proof.

Read from the gateway's own database (FEDERATION_DATABASE_URL, or tongban_federation on
DATABASE_URL): every message sent for the application (once acknowledged: the signature of the
attempt the partner accepted) and every message received for it (the partner's signature),
each verified again here: ours with this province's key ring, the partner's with the keys of
its trusted anchor. The same messages are in the audit ledger (FederationMessageLogged, chained
by routing): `tongban audit verify` proves the ledger, this proves each signature.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from rich.markup import escape
from rich.table import Table
from sqlalchemy import text

from shared.canonical import canonical_json
from shared.clock import in_china
from shared.crypto.sm import sm2_verify, sm3
from shared.db import Database
from shared.federation.anchors import TrustedPartners
from shared.federation.messages import Message
from shared.i18n import _
from shared.settings import Settings

_SENT = text(
    "SELECT message_id, to_province, type, body, created_at, sent_at, signed_time, signer,"
    " signature FROM federation_outbox WHERE application_no = :number ORDER BY seq"
)
_RECEIVED = text(
    "SELECT message_id, from_province, type, body, signed_time, signer, signature"
    " FROM federation_inbox WHERE application_no = :number ORDER BY received_at"
)


@dataclass(frozen=True)
class LoggedMessage:
    direction: str  # "sent" | "received" | "waiting" (queued, not acknowledged yet)
    message_id: str
    type: str
    from_province: str
    to_province: str
    signed_time: datetime | None
    signer: str
    signature: str
    body_sm3: str
    verified: str  # "valid" | why not


def _check(message: Message, key: bytes | None) -> str:
    if not message.signature:
        return "not sent yet"
    if key is None:
        return f"no key {message.signer} to check with"
    try:
        signature = base64.b64decode(message.signature, validate=True)
    except binascii.Error:
        return "signature not base64"
    return "valid" if sm2_verify(key, message.signed_bytes(), signature) else "DOES NOT VERIFY"


async def messages_of(settings: Settings, application_no: str) -> list[LoggedMessage]:
    province = settings.province[:2]
    ring = settings.key_ring()
    partners = TrustedPartners(settings.federation_trust_dir)
    db = Database(settings.federation_database(), pool_size=1)
    found: list[LoggedMessage] = []
    try:
        async with db.transaction() as session:
            # The gateway's tables (services/federation/db.py), read as an operator's tool: the
            # tooling does not import a service.
            sent = await session.execute(_SENT, {"number": application_no})
            for row in sent:
                message = Message(
                    row.message_id,
                    province,
                    row.to_province,
                    row.type,
                    row.signed_time or row.created_at,
                    row.body,
                    row.signer or "",
                    row.signature or "",
                )
                public = ring.public_key(row.signer) if row.signer else None
                key = public.public_key if public is not None else None
                found.append(_logged("sent" if row.sent_at else "waiting", message, key))
            received = await session.execute(_RECEIVED, {"number": application_no})
            for incoming in received:
                message = Message(
                    incoming.message_id,
                    incoming.from_province,
                    province,
                    incoming.type,
                    incoming.signed_time,
                    incoming.body,
                    incoming.signer,
                    incoming.signature,
                )
                anchor = partners.get(incoming.from_province)
                found.append(
                    _logged(
                        "received", message, anchor.keys.get(incoming.signer) if anchor else None
                    )
                )
    finally:
        await db.dispose()
    return sorted(found, key=lambda m: (m.signed_time is None, m.signed_time or datetime.min))


def _logged(direction: str, message: Message, key: bytes | None) -> LoggedMessage:
    return LoggedMessage(
        direction=direction,
        message_id=message.id,
        type=message.type,
        from_province=message.from_province,
        to_province=message.to_province,
        signed_time=message.time if message.signature else None,
        signer=message.signer,
        signature=message.signature,
        body_sm3=sm3(canonical_json(message.body)).hex(),
        verified=_check(message, key),
    )


def as_json(messages: list[LoggedMessage]) -> list[dict[str, Any]]:
    return [
        {**m.__dict__, "signed_time": m.signed_time.isoformat() if m.signed_time else None}
        for m in messages
    ]


def table_of(
    found: list[LoggedMessage], title: str | None = None, *, compact: bool = False
) -> Table:
    """The messages as `tongban federation log` shows them, in the reader's language; `compact`
    (the demo's 80 columns): the time of day in China, no signer, the digest's first 12 digits."""
    headings = [_("Direction"), _("Type"), _("From → to"), _("Signed at")]
    headings += [] if compact else [_("Signer")]
    table = Table(*headings, _("Body SM3"), _("Signature"), title=title)
    for message in found:
        signed = message.signed_time.isoformat() if message.signed_time else "-"
        if compact and message.signed_time:
            signed = in_china(message.signed_time).strftime("%H:%M:%S")
        table.add_row(
            {"sent": _("sent"), "received": _("received")}.get(message.direction, _("waiting")),
            message.type,
            f"{message.from_province} → {message.to_province}",
            signed,
            *([] if compact else [message.signer or "-"]),
            message.body_sm3[: 12 if compact else 16],
            _("verifies") if message.verified == "valid" else escape(message.verified),
        )
    return table


def read(settings: Settings, application_no: str) -> list[LoggedMessage]:
    return asyncio.run(messages_of(settings, application_no))
