"""跨省通办: scans travel on request and are verified by digest (contracts/federation.md §8).

An application handed over to the competent province carries each scan's SHA-256, not its
bytes. Both ends of a scan's journey are here:

- **The competent province asks** (`ask`): approval announced `ScanRequested` (an approver
  opened a scan that is not here); if this gateway received that application from that
  province and the application names that digest, it queues a signed `scan.requested`
  (`{application_no, sha256}`) to the province, its id derived from the application and the
  digest, so asking twice sends once.
- **The window's province answers** (`on_receipt` of `scan.requested`): only a request from
  the partner this gateway handed that application to, only for a digest that application
  carried (what this gateway sent it: its own outbox is the reference). It reads the bytes from
  its province's blob store, read-only (content-addressed: the digest is the key), checks them
  against the digest, and queues a signed `scan` (`{application_no, sha256, content_type,
  size, content: base64}`, at most FEDERATION_MAX_SCAN_BYTES) in the request's transaction,
  its id derived from the partner, the application and the digest: a repeated request
  (another id, the same scan) is answered once.
- **The competent province receives** (`on_receipt` of `scan`): only for an application it
  received from that province, only a digest that application carried, and only bytes whose
  SHA-256 is that digest; then it stores them in its province's blob store, where approval's
  read finds them, and the bridge publishes `ScanReceived` for the audit ledger.

Every refusal is logged and answered as §3's are (403 `{"refused": reason}`), inside the
receiving transaction: a refused message writes nothing (not even its inbox row) and has no
effect; its sender keeps it and retries, its operator sees the reason in `/outbox`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.federation.db import IncomingRow, OutgoingRow
from services.federation.usecases.outgoing import enqueue
from shared.blobstore import BlobNotFound, BlobStore, StoredBlob, UnsupportedType
from shared.federation.messages import Message, Refusal
from shared.messaging import events

log = logging.getLogger(__name__)

HANDED_OVER = "application.handed_over"
SCAN_REQUESTED = "scan.requested"
SCAN = "scan"
# The namespace of the message ids derived from an application and a scan's digest.
_IDS = uuid.UUID("5f0c8a43-2d7e-4c1b-9a57-0e4b7f3d9c21")


def request_id(partner: str, application_no: str, sha256: str) -> str:
    """The id of the request for one scan: the same however often an approver asks."""
    return str(uuid.uuid5(_IDS, f"{SCAN_REQUESTED}/{partner}/{application_no}/{sha256}"))


def answer_id(partner: str, application_no: str, sha256: str) -> str:
    """The id of the answer: one per partner, application and scan, whatever the requests."""
    return str(uuid.uuid5(_IDS, f"{SCAN}/{partner}/{application_no}/{sha256}"))


def carried_digests(application: dict[str, Any]) -> set[str]:
    """The scans an application names: its materials' and the agent's letter (委托书)."""
    digests = {
        m["sha256"]
        for m in application.get("materials") or []
        if isinstance(m, dict) and isinstance(m.get("sha256"), str)
    }
    agent = application.get("agent")
    if isinstance(agent, dict) and isinstance(agent.get("authorization_sha256"), str):
        digests.add(agent["authorization_sha256"])
    return digests


def scan_body(application_no: str, sha256: str, data: bytes, content_type: str) -> dict[str, Any]:
    """The body of a `scan` message."""
    return {
        "application_no": application_no,
        "sha256": sha256,
        "content_type": content_type,
        "size": len(data),
        "content": base64.b64encode(data).decode("ascii"),
    }


def checked_scan(body: dict[str, Any], carried: set[str], *, max_bytes: int) -> bytes:
    """The bytes of a `scan` message's body, if they are a scan the application carried: its
    `sha256` one of `carried`, at most `max_bytes`, and the SHA-256 of the bytes that very
    digest. Refusal otherwise (nothing is stored)."""
    sha256, content = body.get("sha256"), body.get("content")
    if not isinstance(sha256, str) or not isinstance(content, str):
        raise Refusal("malformed", "a scan needs sha256 and content (base64)")
    if sha256 not in carried:
        raise Refusal("not_of_the_application", f"the application names no scan {sha256[:64]}")
    if len(content) > (max_bytes + 2) // 3 * 4:
        raise Refusal("too_large", f"a scan may be at most {max_bytes} bytes")
    try:
        data = base64.b64decode(content, validate=True)
    except (binascii.Error, ValueError) as problem:
        raise Refusal("malformed", f"content is not base64: {problem}") from problem
    if len(data) > max_bytes:
        raise Refusal("too_large", f"a scan may be at most {max_bytes} bytes")
    actual = hashlib.sha256(data).hexdigest()
    if actual != sha256:
        raise Refusal("digest_mismatch", f"the bytes have SHA-256 {actual}, not {sha256}")
    return data


@dataclass(frozen=True)
class ScanStore:
    """The province's blob store as the gateway uses it: read to answer, written to receive."""

    blobs: BlobStore
    max_bytes: int


async def ask(session: AsyncSession, asked: events.ScanRequested) -> str | None:
    """Queue the request for a scan approval asked for, if this gateway received the application
    from that province and it names the scan; the message id, or None (logged)."""
    number, partner = asked.application_no, asked.partner_province
    received = await _application(session, IncomingRow, number, partner)
    if received is None or asked.sha256 not in carried_digests(received):
        log.error(
            "federation: scan %s of %s is not one province %s handed over here; not asked",
            asked.sha256[:12],
            asked.application_no,
            asked.partner_province,
        )
        return None
    body = {"application_no": asked.application_no, "sha256": asked.sha256}
    message_id = request_id(asked.partner_province, asked.application_no, asked.sha256)
    await enqueue(
        session,
        to_province=asked.partner_province,
        type=SCAN_REQUESTED,
        body=body,
        message_id=message_id,
    )
    log.info(
        "federation: scan %s of %s asked of province %s",
        asked.sha256[:12],
        asked.application_no,
        asked.partner_province,
    )
    return message_id


async def on_receipt(session: AsyncSession, message: Message, store: ScanStore | None) -> None:
    """The effect of a new `scan.requested` or `scan`, in the transaction that keeps it; a
    Refusal (logged here) rolls both back."""
    try:
        if store is None:
            raise Refusal("scan_not_found", "this gateway has no blob store")
        if message.type == SCAN_REQUESTED:
            await _answer(session, message, store)
        elif message.type == SCAN:
            await _receive(session, message, store)
    except Refusal as refusal:
        log.warning(
            "federation: refused message %r from province %r: %s (%s)",
            message.id,
            message.from_province,
            refusal.reason,
            refusal.detail[:200],
        )
        raise


async def _answer(session: AsyncSession, message: Message, store: ScanStore) -> None:
    number, sha256 = _asked(message)
    handed = await _application(session, OutgoingRow, number, message.from_province)
    if handed is None:
        raise Refusal("not_handed_over", f"{number} was not handed over to this province")
    if sha256 not in carried_digests(handed):
        raise Refusal("not_of_the_application", f"{number} names no scan {sha256}")
    try:
        scan = await store.blobs.open(sha256)
    except BlobNotFound as missing:
        raise Refusal("scan_not_found", f"no scan {sha256} in the blob store") from missing
    if scan.size > store.max_bytes:
        raise Refusal("too_large", f"the scan has {scan.size} bytes, above {store.max_bytes}")
    data = b"".join([chunk async for chunk in scan.chunks])
    if hashlib.sha256(data).hexdigest() != sha256:
        # The store's copy is damaged: never sent as the applicant's scan.
        log.error("federation: the blob store's copy of scan %s does not match it", sha256)
        raise Refusal("scan_not_found", f"the stored copy of {sha256} does not match its digest")
    await enqueue(
        session,
        to_province=message.from_province,
        type=SCAN,
        body=scan_body(number, sha256, data, scan.content_type),
        message_id=answer_id(message.from_province, number, sha256),
    )
    log.info(
        "federation: scan %s of %s queued for province %s (%d bytes)",
        sha256[:12],
        number,
        message.from_province,
        len(data),
    )


async def _receive(session: AsyncSession, message: Message, store: ScanStore) -> StoredBlob:
    number, sha256 = _asked(message)
    received = await _application(session, IncomingRow, number, message.from_province)
    if received is None:
        raise Refusal("not_handed_over", f"{number} was not received from this province")
    data = checked_scan(message.body, carried_digests(received), max_bytes=store.max_bytes)
    try:
        stored = await store.blobs.put_verified(
            _once(data), max_bytes=store.max_bytes, expected_sha256=sha256
        )
    except UnsupportedType as refused:
        raise Refusal("malformed", f"not a PDF, JPEG or PNG: {refused}") from refused
    log.info(
        "federation: scan %s of %s from province %s verified and stored (%d bytes)",
        sha256[:12],
        number,
        message.from_province,
        stored.size,
    )
    return stored


def _asked(message: Message) -> tuple[str, str]:
    number, sha256 = message.body.get("application_no"), message.body.get("sha256")
    if not isinstance(number, str) or not isinstance(sha256, str):
        raise Refusal("malformed", "application_no and sha256 are needed")
    return number, sha256


async def _application(
    session: AsyncSession, model: Any, number: str, province: str
) -> dict[str, Any] | None:
    """The application `number` as handed over to (OutgoingRow) or received from (IncomingRow)
    `province`, or None."""
    other = model.to_province if model is OutgoingRow else model.from_province
    body: dict[str, Any] | None = await session.scalar(
        select(model.body)
        .where(model.application_no == number, other == province, model.type == HANDED_OVER)
        .limit(1)
    )
    return body


def _content_type(data: bytes) -> str:
    # What the blob store told from the first bytes when it stored them (a scan it accepted).
    known = {b"%PDF-": "application/pdf", b"\xff\xd8\xff": "image/jpeg", b"\x89PNG": "image/png"}
    return next((kind for magic, kind in known.items() if data.startswith(magic)), "")


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data


def scan_received(row: IncomingRow) -> events.ScanReceived:
    """What the audit ledger chains for a scan received (the row passed `on_receipt`)."""
    data = base64.b64decode(row.body["content"])
    stored = StoredBlob(row.body["sha256"], len(data), _content_type(data))
    return events.ScanReceived(
        application_no=row.application_no or "",
        sha256=stored.sha256,
        size=stored.size,
        content_type=stored.content_type,
        from_province=row.from_province,
        message_id=row.message_id,
        received_at=row.received_at,
    )
