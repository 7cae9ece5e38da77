"""Intake's FastAPI dependencies: the collaborators main.py builds once, handed to endpoints one
by one as `Annotated` parameters. The request's transaction is shared.webapp's `DbSession`, the
caller shared.authz's `Caller`, the store of scans shared.webapp's `Blobs`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends

from services.intake.db import ApplicationNumbers
from services.intake.usecases.catalog import Catalog
from services.intake.usecases.scans import ScanRegistry
from shared.db import Database
from shared.deps import part
from shared.jurisdiction import RuleBook
from shared.messaging.outbox import Outbox


@dataclass(frozen=True)
class Dependencies:
    """What intake's endpoints hand to its use cases, wired once in main.py at start and kept on
    `app.state.dependencies`. `catalog` is one holder whose content (the known versions, the
    current one) is swapped as versions are published; `rules` is the replica's book, followed
    as routing publishes."""

    db: Database
    outbox: Outbox
    catalog: Catalog
    rules: RuleBook
    numbers: ApplicationNumbers
    scans: ScanRegistry
    max_scan_bytes: int
    # The key of the ID number digests (settings: PII_DIGEST_KEY), shared with approval, which
    # puts the holder's digest on the certificates it issues.
    digest_key: bytes


# For the use cases that write outside the request's transaction, each saying why.
DatabaseDep = Annotated[Database, Depends(part("db"))]
OutboxDep = Annotated[Outbox, Depends(part("outbox"))]
CatalogDep = Annotated[Catalog, Depends(part("catalog"))]
# The replica of routing's jurisdiction rules and trust agreements (rules_replica.py).
RulesDep = Annotated[RuleBook, Depends(part("rules"))]
NumbersDep = Annotated[ApplicationNumbers, Depends(part("numbers"))]
ScansDep = Annotated[ScanRegistry, Depends(part("scans"))]
MaxScanBytes = Annotated[int, Depends(part("max_scan_bytes"))]
DigestKey = Annotated[bytes, Depends(part("digest_key"))]
