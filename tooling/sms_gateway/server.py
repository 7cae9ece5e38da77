"""The simulator's process: settings and environment read once, the app served with uvicorn
(`python -m tooling.sms_gateway`)."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os

from shared.settings import DEFAULT_PORTS
from tooling import sms_gateway
from tooling.sms_gateway.app import create_app
from tooling.sms_gateway.engine import DEFAULT_REPORT_DELAY_SECONDS, Gateway

REPORT_DELAY_ENVIRONMENT = "SMS_GATEWAY_REPORT_DELAY_SECONDS"


def serve(port: int, report_url: str | None, host: str = "127.0.0.1") -> None:
    import uvicorn

    from shared.http_server import HTTP_PROTOCOL
    from shared.settings import get_settings

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    settings = get_settings()
    gateway = Gateway(
        secret=settings.sms_report_secret.get_secret_value().encode(),
        report_url=report_url,
        report_delay_seconds=float(
            os.environ.get(REPORT_DELAY_ENVIRONMENT, DEFAULT_REPORT_DELAY_SECONDS)
        ),
    )
    uvicorn.run(
        create_app(gateway),
        host=host,
        port=port,
        http=HTTP_PROTOCOL,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=2,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m tooling.sms_gateway",
        description=sms_gateway.__doc__.splitlines()[0] if sms_gateway.__doc__ else None,
    )
    parser.add_argument("--port", type=int, default=DEFAULT_PORTS["sms"])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument(
        "--report-url", default=None, help="where delivery reports are posted (signed)"
    )
    args = parser.parse_args(argv)
    # SIGTERM (how the launcher stops its processes) is handled by uvicorn; SIGINT too.
    with contextlib.suppress(KeyboardInterrupt):
        serve(args.port, args.report_url, args.host)
