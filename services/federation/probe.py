"""`python -m services.federation.probe [PATH] [--port P]`: the gateway's health check from
inside its own container or pod (compose's healthcheck, Kubernetes' exec probes). The gateway
speaks only HTTPS with mutual TLS, so an orchestrator's plain HTTP probe would be refused in
the handshake: this asks https://127.0.0.1:<port><PATH> (/healthz by default) presenting the
gateway's own certificate (FEDERATION_TLS_CERT, FEDERATION_TLS_KEY), the answer's checked
against FEDERATION_TLS_CA. Exit code 0 on a 200, 1 otherwise with one line saying why.

The standard library only: it runs every few seconds, so it imports no settings."""

from __future__ import annotations

import argparse
import os
import ssl
import sys
import urllib.error
import urllib.request

DEFAULT_PORT = 8010  # shared.settings.DEFAULT_PORTS["federation"]


def probe(path: str, port: int, timeout: float) -> str | None:
    """None when the gateway answered 200, else why not."""
    try:
        cert, key, ca = (
            os.environ["FEDERATION_TLS_CERT"],
            os.environ["FEDERATION_TLS_KEY"],
            os.environ["FEDERATION_TLS_CA"],
        )
    except KeyError as missing:
        return f"{missing.args[0]} is not set"
    url = f"https://127.0.0.1:{port}{path}"
    try:
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca)
        # Its own loopback address: the certificate names the gateway's public host.
        context.check_hostname = False
        context.load_cert_chain(cert, key)
        with urllib.request.urlopen(url, timeout=timeout, context=context) as answer:
            return None if answer.status == 200 else f"{url}: {answer.status}"
    except (OSError, urllib.error.URLError) as error:
        return f"{url}: {error}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m services.federation.probe",
        description="The federation gateway's health check over its mutual TLS.",
    )
    parser.add_argument("path", nargs="?", default="/healthz", help="/healthz or /readyz")
    parser.add_argument(
        "--port", type=int, default=int(os.environ.get("FEDERATION_PORT", DEFAULT_PORT))
    )
    parser.add_argument("--timeout", type=float, default=3.0)
    options = parser.parse_args(argv)
    problem = probe(options.path, options.port, options.timeout)
    if problem is not None:
        print(f"federation gateway not healthy: {problem}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
