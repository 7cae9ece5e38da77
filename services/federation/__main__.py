"""`python -m services.federation [--host H] [--port P]`: the gateway on FEDERATION_HOST:
FEDERATION_PORT (127.0.0.1:8010 by default; the options win), HTTPS with mutual TLS only.
`--help` answers without starting anything (the image's commands are checked so)."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from shared.settings import DEFAULT_PORTS


def options(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m services.federation",
        description="The federation gateway (跨省通办): HTTPS with mutual TLS to partner "
        "provinces' gateways, Kafka inside the province (contracts/federation.md).",
    )
    parser.add_argument(
        "--host",
        default=os.environ.get("FEDERATION_HOST", "127.0.0.1"),
        help="interface to listen on (FEDERATION_HOST; 127.0.0.1)",
    )
    parser.add_argument(
        "--port",
        type=int,
        default=int(os.environ.get("FEDERATION_PORT", DEFAULT_PORTS["federation"])),
        help=f"port (FEDERATION_PORT; {DEFAULT_PORTS['federation']})",
    )
    return parser.parse_args(argv)


def serve(argv: list[str] | None = None) -> None:
    chosen = options(argv)
    import uvicorn

    from services.federation.main import create_app
    from services.federation.tls import TlsFiles, TlsNotConfigured
    from shared.crypto.keyring import KeyRingError
    from shared.settings import InsecureConfiguration, get_settings
    from shared.telemetry import configure_logging

    settings = get_settings()
    configure_logging(settings.log_level)
    try:
        tls: dict[str, Any] = TlsFiles.of(settings).server_options()
        app = create_app(settings)
    except (TlsNotConfigured, InsecureConfiguration, KeyRingError) as refusal:
        # One line in the container's log saying why, not a traceback.
        print(refusal, file=sys.stderr)
        raise SystemExit(1) from refusal
    uvicorn.run(
        app,
        host=chosen.host,
        port=chosen.port,
        access_log=settings.access_log,
        log_config=None,
        # A partner's gateway keeps its connection open between messages: a stop waits for
        # requests in flight, not for partners to hang up.
        timeout_graceful_shutdown=5,
        **tls,
    )


if __name__ == "__main__":
    serve()
