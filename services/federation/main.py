"""Federation gateway bootstrap: settings, its database, the trusted anchors, its signing key,
the store-and-forward sender, and the HTTP API (served over mutual TLS only: __main__.py).

Run: `python -m services.federation` (FEDERATION_PORT, 8010 by default).

Inside the province it speaks Kafka (bridge.py, unless FEDERATION_KAFKA=false): it queues what
routing hands over (tongban.federation.outgoing) and publishes a log event per message sent
and received (tongban.federation.events), which routing's audit ledger chains.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta

import httpx
from fastapi import FastAPI

from services.federation.api import router
from services.federation.bridge import Bridge
from services.federation.tls import TlsFiles
from services.federation.usecases.outgoing import Sender
from services.federation.usecases.scans import ScanStore
from shared.blobstore import BlobStore
from shared.db import Database
from shared.federation.anchors import FEDERATION_KEY, TrustedPartners
from shared.settings import Settings, get_settings
from shared.webapp import BodySizeLimit

log = logging.getLogger(__name__)


@dataclass
class Gateway:
    settings: Settings
    db: Database
    partners: TrustedPartners
    province: str  # two digits: 34 for Anhui
    sender: Sender
    # The province's blob store: scans sent on request and received (usecases/scans.py).
    scans: ScanStore
    wake: asyncio.Event = field(default_factory=asyncio.Event)

    async def send_forever(self) -> None:
        """Send what is due; then wait for the poll interval (or a wake-up) and again. A
        failure of the round (the database away) is logged and the round tried again."""
        while True:
            try:
                await self.sender.send_due()
            except Exception:
                log.exception("federation: the sender's round failed")
            self.wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), self.settings.federation_poll_seconds)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    settings.fail_closed("The federation gateway")
    settings.check_keys("federation")  # outside development: its `federation` key, the list
    tls = TlsFiles.of(settings)
    ring = settings.key_ring()
    signer = ring.signer(FEDERATION_KEY)
    db = Database(settings.federation_database(), pool_size=settings.database_pool_size)
    partners = TrustedPartners(settings.federation_trust_dir)
    client = httpx.AsyncClient(
        verify=tls.client_context(), timeout=settings.federation_send_timeout_seconds
    )
    province = settings.province[:2]
    sender = Sender(
        db=db,
        client=client,
        partners=partners,
        signer=signer,
        own_province=province,
        retry_base=timedelta(seconds=settings.federation_retry_base_seconds),
        retry_max=timedelta(seconds=settings.federation_retry_max_seconds),
    )
    url, options = settings.blob_store_options()
    scans = ScanStore(BlobStore.from_url(url, **options), settings.federation_max_scan_bytes)
    gateway = Gateway(settings, db, partners, province, sender, scans)

    bridge = Bridge(settings, db, ring, province, partners) if settings.federation_kafka else None

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        tasks = [asyncio.create_task(gateway.send_forever(), name="federation-sender")]
        if bridge is not None:
            tasks += [
                asyncio.create_task(bridge.consume_forever(gateway.wake), name="federation-in"),
                asyncio.create_task(
                    bridge.log_forever(settings.federation_poll_seconds), name="federation-log"
                ),
            ]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await client.aclose()
            await db.dispose()

    app = FastAPI(
        title="Tongban federation gateway",
        description="跨省通办: signed messages to and from partner provinces' gateways.",
        version="1.0.0",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.gateway = gateway
    app.include_router(router)
    # A partner's message is a few kilobytes, a scan on request at most FEDERATION_MAX_SCAN_BYTES
    # in base64; a certificate is not a licence to send gigabytes.
    limit = settings.federation_max_message_bytes(settings.max_request_body_bytes)
    app.add_middleware(BodySizeLimit, max_bytes=limit)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "province": province}

    @app.get("/readyz")
    async def readyz() -> dict[str, str]:
        # Without its database the gateway can neither keep what it receives nor send.
        await db.ping()
        return {"status": "ready", "province": province}

    return app
