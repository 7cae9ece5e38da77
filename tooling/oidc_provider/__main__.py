"""`python -m tooling.oidc_provider`: the simulator in a process of its own."""

from __future__ import annotations

import argparse
import contextlib

from tooling import oidc_provider
from tooling.oidc_provider.app import Client, create_app


def main(argv: list[str] | None = None) -> None:
    import uvicorn

    parser = argparse.ArgumentParser(
        prog="python -m tooling.oidc_provider",
        description=oidc_provider.__doc__.splitlines()[0] if oidc_provider.__doc__ else None,
    )
    parser.add_argument("--port", type=int, default=8009)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--issuer", help="its base URL as clients reach it (default: host:port)")
    parser.add_argument("--client-id", default="tongban-portal")
    parser.add_argument("--client-secret", default=None, help="none: a public client (PKCE)")
    parser.add_argument("--algorithm", choices=("RS256", "ES256"), default="RS256")
    parser.add_argument("--id-claim", default="id_number")
    parser.add_argument("--level-claim", default="acr")
    args = parser.parse_args(argv)
    app = create_app(
        args.issuer or f"http://{args.host}:{args.port}",
        Client(args.client_id, args.client_secret),
        algorithm=args.algorithm,
        id_claim=args.id_claim,
        level_claim=args.level_claim,
    )
    with contextlib.suppress(KeyboardInterrupt):
        uvicorn.run(app, host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
