"""What intake's use cases work with, wired once in main.py, and the endpoints' dependencies."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Request

from services.intake.db import (
    ApplicationNumbers,
)
from shared.blobstore import BlobStore
from shared.db import Database
from shared.jurisdiction import RuleBook
from shared.messaging.outbox import Outbox

if TYPE_CHECKING:  # until the bundle is gone
    from services.intake.usecases.catalog import Catalog
    from services.intake.usecases.scans import ScanRegistry


@dataclass(frozen=True)
class Intake:
    """What intake's use cases work with, wired once in main.py. `catalog` is one holder whose
    content (the known versions, the current one) is swapped as versions are published."""

    db: Database
    outbox: Outbox
    catalog: Catalog
    rules: RuleBook
    numbers: ApplicationNumbers
    blobs: BlobStore
    scans: ScanRegistry
    max_scan_bytes: int
    # The key of the ID number digests (settings: PII_DIGEST_KEY), shared with approval, which
    # puts the holder's digest on the certificates it issues.
    digest_key: bytes


async def _intake(request: Request) -> Intake:
    intake: Intake = request.app.state.intake
    return intake


IntakeDep = Annotated[Intake, Depends(_intake)]
