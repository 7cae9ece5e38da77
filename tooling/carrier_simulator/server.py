"""The simulator's process: settings and environment read once, the app served with uvicorn
(`tongban carrier-simulator`, `python -m tooling.carrier_simulator`)."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os

from tooling import carrier_simulator
from tooling.carrier_simulator.app import create_app
from tooling.carrier_simulator.engine import DEFAULT_STEP_SECONDS, TOKEN_ENVIRONMENT, Simulator


def serve(port: int, webhook_url: str | None, host: str = "127.0.0.1") -> None:
    import uvicorn

    from shared.http_server import HTTP_PROTOCOL
    from shared.settings import get_settings

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    settings = get_settings()
    simulator = Simulator(
        secret=settings.carrier_webhook_secret.get_secret_value(),
        webhook_url=webhook_url,
        token=os.environ.get(TOKEN_ENVIRONMENT) or None,
        step_seconds=float(os.environ.get("CARRIER_SIMULATOR_STEP_SECONDS", DEFAULT_STEP_SECONDS)),
    )
    uvicorn.run(
        create_app(simulator),
        host=host,
        port=port,
        http=HTTP_PROTOCOL,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=2,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m tooling.carrier_simulator",
        description=carrier_simulator.__doc__.splitlines()[0]
        if carrier_simulator.__doc__
        else None,
    )
    parser.add_argument("--port", type=int, default=8005)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--webhook-url", default=None, help="delivery's POST /v1/carrier/events")
    args = parser.parse_args(argv)
    # SIGTERM (how the launcher stops its processes) is handled by uvicorn; SIGINT too.
    with contextlib.suppress(KeyboardInterrupt):
        serve(args.port, args.webhook_url, args.host)
