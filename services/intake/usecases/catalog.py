"""The catalog (通办事项清单): the versions published by the province, and the current one."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import NamedTuple

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.intake.db import CatalogVersionRow
from shared import clock
from shared.auth import Principal
from shared.db import Database, insert_if_absent
from shared.errors import Conflict, Forbidden, NotFound, Unavailable
from shared.i18n import _
from shared.messaging import events
from shared.messaging.outbox import Outbox
from shared.reference.bundles import Bundle
from shared.reference.catalog import BUNDLES, CATALOG, CATALOG_VERSION, CatalogItem
from shared.reference.localities import PROVINCE

# Another intake process learns a version published through this one within this many seconds.
CATALOG_REFRESH_SECONDS = 30.0
# A read naming a version this process does not know looks in the table at most this often.
_MISS_REFRESH_SECONDS = 1.0
BUILT_IN = "built-in"


@dataclass(frozen=True)
class CatalogVersion:
    """One published version of the catalog (通办事项清单): never changed once published."""

    version: str
    published_at: datetime
    published_by: str
    items: Mapping[str, CatalogItem]
    # 一件事: the bundles of this version's items (shared.reference.bundles), by bundle_id.
    bundles: Mapping[str, Bundle]

    @classmethod
    def of(
        cls,
        version: str,
        items: Iterable[CatalogItem],
        *,
        published_at: datetime,
        published_by: str,
        bundles: Iterable[Bundle] = (),
    ) -> CatalogVersion:
        by_code = MappingProxyType({item.item_code: item for item in items})
        by_id = MappingProxyType({bundle.bundle_id: bundle for bundle in bundles})
        return cls(version, published_at, published_by, by_code, by_id)


class _Known(NamedTuple):
    current: CatalogVersion | None
    versions: Mapping[str, CatalogVersion]


class Catalog:
    """The catalog versions this process knows, and the current one: the most recently
    published.

    Its state is one immutable snapshot, replaced by one assignment when a version is learnt.
    A use case takes `current` once and works with that version whole, whatever is published
    meanwhile; the other accessors each read the current version anew."""

    def __init__(self, versions: Iterable[CatalogVersion] = ()) -> None:
        self._known = _Known(None, MappingProxyType({}))
        self.refreshed_at = float("-inf")  # time.monotonic() of the last look at the table
        self.learn(versions)

    @classmethod
    def fixed(cls, items: Mapping[str, CatalogItem], version: str = CATALOG_VERSION) -> Catalog:
        """One version of the given items (what tests judge with)."""
        published = CatalogVersion.of(
            version, items.values(), published_at=clock.now(), published_by=BUILT_IN
        )
        return cls([published])

    def learn(self, versions: Iterable[CatalogVersion]) -> None:
        """Take these versions in; a version known already stays as it is (it never changes)."""
        known = dict(self._known.versions)
        for published in versions:
            known.setdefault(published.version, published)
        current = max(known.values(), key=lambda v: (v.published_at, v.version), default=None)
        self._known = _Known(current, MappingProxyType(known))

    @property
    def current(self) -> CatalogVersion:
        current = self._known.current
        if current is None:
            raise Unavailable("catalog_unavailable", _("The catalog is not loaded yet."))
        return current

    @property
    def version(self) -> str:
        return self.current.version

    def knows(self, version: str) -> bool:
        return version in self._known.versions

    def of(self, version: str) -> CatalogVersion | None:
        return self._known.versions.get(version)

    def versions(self) -> list[CatalogVersion]:
        """Every known version, the most recently published first."""
        return sorted(
            self._known.versions.values(), key=lambda v: (v.published_at, v.version), reverse=True
        )

    def item(self, item_code: str, version: str | None) -> CatalogItem | None:
        """The item as `version` lists it; as the current version does if that is None or not
        known here yet (published through another process moments ago)."""
        published = (self.of(version) if version else None) or self.current
        return published.items.get(item_code)


# --- the catalog: versions published by the province --------------------------------------


def _announcement(published: CatalogVersion) -> events.CatalogPublished:
    return events.CatalogPublished(
        version=published.version,
        published_at=published.published_at,
        rules=[
            events.CatalogRule(
                item_code=item.item_code,
                jurisdiction=item.jurisdiction,
                competent_level=item.competent_level,
                department=item.department,
            )
            for item in published.items.values()
        ],
    )


async def _publish(session: AsyncSession, outbox: Outbox, published: CatalogVersion) -> bool:
    """Store the version and announce it (same transaction); False if it exists already."""
    stored = await insert_if_absent(
        session,
        CatalogVersionRow,
        version=published.version,
        items=[item.model_dump(mode="json") for item in published.items.values()],
        bundles=[bundle.model_dump(mode="json") for bundle in published.bundles.values()],
        published_at=published.published_at,
        published_by=published.published_by,
    )
    if stored:
        await outbox.add(session, _announcement(published))
    return stored


async def publish_built_in_catalog(session: AsyncSession, outbox: Outbox) -> bool:
    """At start: the built-in catalog (shared.reference.catalog) is published as its version
    unless a version of that name exists already, which is then kept as it is (a published
    version never changes: a corrected built-in table needs a new CATALOG_VERSION). Announced
    like any version, so routing takes its rules over those of an older publication."""
    built_in = CatalogVersion.of(
        CATALOG_VERSION, CATALOG, published_at=clock.now(), published_by=BUILT_IN, bundles=BUNDLES
    )
    return await _publish(session, outbox, built_in)


async def refresh_catalog(session: AsyncSession, catalog: Catalog) -> int:
    """Learn the versions published since the last look (through another intake process, or
    the built-in one at start); returns how many. A known version is never read again."""
    catalog.refreshed_at = time.monotonic()
    listed = await session.scalars(select(CatalogVersionRow.version))
    unknown = [version for version in listed if not catalog.knows(version)]
    if not unknown:
        return 0
    rows = await session.scalars(
        select(CatalogVersionRow).where(CatalogVersionRow.version.in_(unknown))
    )
    catalog.learn(
        CatalogVersion.of(
            row.version,
            (CatalogItem.model_validate(item) for item in row.items),
            published_at=row.published_at,
            published_by=row.published_by,
            # Stored as published, checked against its items then (a version never changes).
            bundles=(Bundle.model_validate(bundle) for bundle in row.bundles or ()),
        )
        for row in rows
    )
    return len(unknown)


async def catalog_version(
    session: AsyncSession, catalog: Catalog, version: str | None
) -> CatalogVersion:
    """The version named, or the current one. A version this process does not know yet may
    have been published through another one moments ago: the table is asked (at most once a
    second) before the answer is no."""
    if version is None:
        return catalog.current
    found = catalog.of(version)
    if found is None and time.monotonic() - catalog.refreshed_at >= _MISS_REFRESH_SECONDS:
        await refresh_catalog(session, catalog)
        found = catalog.of(version)
    if found is None:
        raise NotFound(
            "unknown_catalog_version",
            _("No catalog version {version} was published.", version=version),
        )
    return found


@dataclass(frozen=True)
class PublishCatalog:
    """Command: the province's administration publishes a new version of the catalog, which
    becomes current at once (in other intake processes within CATALOG_REFRESH_SECONDS)."""

    version: str
    items: Sequence[CatalogItem]
    admin: Principal
    bundles: Sequence[Bundle] = ()


async def publish_catalog(
    db: Database, outbox: Outbox, catalog: Catalog, command: PublishCatalog
) -> CatalogVersion:
    """Stored and announced in a transaction of its own, not the request's: this process takes
    the version as current only once it is committed (a version it learnt and the table lost
    would be current here and nowhere else)."""
    if command.admin.locality != PROVINCE:
        raise Forbidden(
            "not_province_admin",
            _(
                "Only the province's administration ({province}) publishes the catalog.",
                province=PROVINCE,
            ),
            {"locality": command.admin.locality},
        )
    published = CatalogVersion.of(
        command.version,
        # The plain guide, whatever model the request parsed it into.
        (CatalogItem.model_validate(item.model_dump()) for item in command.items),
        published_at=clock.now(),
        published_by=command.admin.sub[:64],  # the column's size
        bundles=command.bundles,
    )
    async with db.transaction() as session:
        if not await _publish(session, outbox, published):
            raise Conflict(
                "version_exists",
                _(
                    "Catalog version {version} was published before; name a new version.",
                    version=command.version,
                ),
                {"version": command.version},
            )
    # Committed: current in this process from now on.
    catalog.learn([published])
    return published
