"""Scans of materials (收件): uploaded at a window, and which window may cite which."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Any, Protocol

from sqlalchemy import select

from services.intake import domain
from services.intake.db import ScanRow, ScanUploadRow
from shared import clock
from shared.auth import Principal
from shared.blobstore import BlobStore, StoredBlob, TooLarge, UnsupportedType
from shared.db import Database, insert_if_absent
from shared.errors import ApiError, Forbidden
from shared.i18n import N_, _


class CitesScan(Protocol):
    """A material of an application or a supplement that may give the sha256 of a scan."""

    @property
    def material_code(self) -> str: ...

    @property
    def sha256(self) -> str | None: ...


class ScanRegistry:
    """Which scans each window uploaded, with their size and type: a window may cite only the
    scans it uploaded (or, in a supplement, those of the application itself). A scan is
    content-addressed and never changes or goes away, so once seen at a window it is remembered
    in memory: a submission that references known scans costs no lookup."""

    def __init__(self, db: Database, capacity: int = 100_000) -> None:
        self.db = db
        self.capacity = capacity
        self._known: dict[tuple[str, str], tuple[int, str]] = {}

    def remember(self, sha256: str, window_id: str, size: int, content_type: str) -> None:
        if len(self._known) >= self.capacity:
            self._known.clear()  # forgetting only costs a lookup
        self._known[(sha256, window_id)] = (size, content_type)

    async def lookup(self, wanted: Iterable[str], window_id: str) -> dict[str, tuple[int, str]]:
        """The size and type of each scan among `wanted` that `window_id` uploaded; others (never
        uploaded, or uploaded at another window only) are left out."""
        wanted = set(wanted)
        missing = [sha for sha in wanted if (sha, window_id) not in self._known]
        if missing:
            async with self.db.engine.connect() as connection:
                rows = await connection.execute(
                    select(ScanRow.sha256, ScanRow.size, ScanRow.content_type)
                    .join(ScanUploadRow, ScanUploadRow.sha256 == ScanRow.sha256)
                    .where(ScanRow.sha256.in_(missing), ScanUploadRow.window_id == window_id)
                )
                for sha, size, content_type in rows:
                    self.remember(sha, window_id, size, content_type)
        return {
            sha: self._known[(sha, window_id)] for sha in wanted if (sha, window_id) in self._known
        }


def unknown_scans(
    materials: Iterable[CitesScan], scans: Mapping[str, tuple[int, str]]
) -> list[domain.Problem]:
    return [
        domain.Problem(
            "scan_not_uploaded",
            N_(
                "No scan with this sha256 was uploaded at this window (POST /v1/materials "
                "first): a window cites only the scans it uploaded, or those of the "
                "application itself."
            ),
            material_code=m.material_code,
        )
        for m in materials
        if m.sha256 is not None and m.sha256 not in scans
    ]


def with_scan(material: dict[str, Any], scans: Mapping[str, tuple[int, str]]) -> dict[str, Any]:
    """A material reference as events carry it: sha256 with the stored scan's size and type."""
    size, content_type = scans[material["sha256"]]
    return {**material, "size": size, "content_type": content_type}


async def upload_scan(
    db: Database,
    blobs: BlobStore,
    scans: ScanRegistry,
    chunks: AsyncIterator[bytes],
    clerk: Principal,
    *,
    max_bytes: int,
) -> StoredBlob:
    """收件: a window stores the scan of one material. Its sha256 is computed here, its type
    told from its bytes; a refused upload stores nothing.

    The bytes are stored before any row is written, and the rows in a transaction of their own,
    not the request's: the registry remembers the scan only once its rows are committed (one it
    remembered and the table lost would be citable here and refused by every other process)."""
    if clerk.window_id is None:
        raise Forbidden("window_required", _("Only a clerk at a window can upload scans."))
    try:
        stored = await blobs.put_verified(chunks, max_bytes=max_bytes)
    except TooLarge as refused:
        raise ApiError(
            413,
            "payload_too_large",
            _("A scan may be at most {limit} bytes.", limit=max_bytes),
            {"limit_bytes": max_bytes},
        ) from refused
    except UnsupportedType as refused:
        raise ApiError(
            415,
            "unsupported_media_type",
            _("A scan must be a PDF, JPEG or PNG file."),
            {"accepted": ["application/pdf", "image/jpeg", "image/png"]},
        ) from refused
    now = clock.now()
    async with db.transaction() as session:
        await insert_if_absent(
            session,
            ScanRow,
            sha256=stored.sha256,
            size=stored.size,
            content_type=stored.content_type,
            uploaded_at=now,
            uploaded_by=clerk.sub,
            window_id=clerk.window_id,
            locality=clerk.locality,
        )
        # The same bytes uploaded at another window are that window's to cite too.
        await insert_if_absent(
            session, ScanUploadRow, sha256=stored.sha256, window_id=clerk.window_id, uploaded_at=now
        )
    scans.remember(stored.sha256, clerk.window_id, stored.size, stored.content_type)
    return stored
