"""`python -m services.federation`: the gateway on FEDERATION_HOST:FEDERATION_PORT (127.0.0.1:8010
by default), HTTPS with mutual TLS only."""

from __future__ import annotations

import os
from typing import Any

import uvicorn

from services.federation.main import create_app
from services.federation.tls import TlsFiles
from shared.settings import DEFAULT_PORTS, get_settings
from shared.telemetry import configure_logging


def serve() -> None:
    settings = get_settings()
    configure_logging(settings.log_level)
    options: dict[str, Any] = TlsFiles.of(settings).server_options()
    uvicorn.run(
        create_app(settings),
        host=os.environ.get("FEDERATION_HOST", "127.0.0.1"),
        port=int(os.environ.get("FEDERATION_PORT", DEFAULT_PORTS["federation"])),
        access_log=settings.access_log,
        log_config=None,
        # A partner's gateway keeps its connection open between messages: a stop waits for
        # requests in flight, not for partners to hang up.
        timeout_graceful_shutdown=5,
        **options,
    )


if __name__ == "__main__":
    serve()
