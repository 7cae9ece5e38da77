"""The scans of a case, read on record; 跨省通办: a scan of an application a partner province's
window accepted is asked of that province when it is not here yet (contracts/federation.md §8).

The application travelled with each scan's SHA-256, not its bytes. The first approver to read a
missing one records a request (once per application and scan) and announces it
(`ScanRequested`, outbox); the federation gateway asks the partner, checks the bytes it sends
back against the digest and stores them in this province's blob store, where the next read
finds them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.approval.db import ScanRequestRow
from services.approval.usecases.cases import application_of, case_for, record_material_read
from shared import clock
from shared.auth import Principal
from shared.blobstore import BlobReader, BlobStore
from shared.db import insert_if_absent
from shared.errors import NotFound
from shared.i18n import _
from shared.messaging import events
from shared.messaging.outbox import Outbox
from shared.reference.localities import PROVINCE


@dataclass(frozen=True)
class ScanRequested:
    """The scan is at the partner province's window and was asked for (now or before)."""

    application_no: str
    sha256: str
    partner_province: str
    requested_at: datetime


def partner_of(application: dict[str, Any], own_province: str = PROVINCE) -> str | None:
    """The province whose window accepted the application, if not this one (代收 for us)."""
    receiving = application.get("receiving_locality")
    if isinstance(receiving, str) and receiving[:2] != own_province[:2]:
        return receiving[:2]
    return None


def carried_scans(application: dict[str, Any]) -> set[str]:
    """The scans the application itself names (materials, the agent's letter): those its
    window's province keeps and can be asked for. Supplements are not forwarded across."""
    scans = {m["sha256"] for m in application.get("materials", []) if m.get("sha256")}
    if application.get("agent"):
        scans.add(application["agent"]["authorization_sha256"])
    return scans


async def read_or_request(
    session: AsyncSession,
    outbox: Outbox,
    blobs: BlobStore,
    application_no: str,
    sha256: str,
    approver: Principal,
) -> BlobReader | ScanRequested:
    """The scan's bytes, the read recorded first (only the case's own scans, only its
    competent locality). A partner's scan that is not here yet: asked of the partner, once."""
    # The route takes hex in either case (shared.bounds.Sha256); the store and the
    # applications name digests in lowercase.
    sha256 = sha256.lower()
    if await blobs.exists(sha256):
        await record_material_read(session, outbox, application_no, sha256, approver)
        return await blobs.open(sha256)
    row = await case_for(session, application_no, approver)
    application = application_of(row, outbox.personal_data())
    partner = partner_of(application)
    if partner is None or sha256 not in carried_scans(application):
        # Checked as for a read (another case's scan: 404 of its own), then absent here.
        await record_material_read(session, outbox, application_no, sha256, approver)
        raise NotFound("material_not_found", _("The scan is not in the blob store."))
    now = clock.now()
    new = await insert_if_absent(
        session,
        ScanRequestRow,
        application_no=application_no,
        sha256=sha256,
        partner_province=partner,
        requested_by=approver.sub,
        requested_at=now,
    )
    if new:
        asked = events.ScanRequested(
            application_no=application_no,
            locality=row.locality,
            sha256=sha256,
            partner_province=partner,
            requested_by=approver.sub,
            requested_at=now,
        )
        await outbox.add(session, asked)
        return ScanRequested(application_no, sha256, partner, now)
    first = await session.scalar(
        select(ScanRequestRow).where(
            ScanRequestRow.application_no == application_no, ScanRequestRow.sha256 == sha256
        )
    )
    assert first is not None
    return ScanRequested(application_no, sha256, partner, first.requested_at)
