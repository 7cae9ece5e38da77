"""What every service's `deps.py` stands on: the collaborators `main.py` built once, kept on the
app (`install`), and handed to endpoints one attribute at a time (`part`), as `Annotated`
parameters:

    OutboxDep = Annotated[Outbox, Depends(part("outbox"))]

Each service declares its own frozen `Dependencies` dataclass (what its endpoints may ask for);
this module only stores it and reads it back, so the four services wire the same way.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request


def install(app: FastAPI, dependencies: object) -> None:
    """Keep what main.py built for the app's endpoints (one object per app)."""
    app.state.dependencies = dependencies


def installed(request: Request) -> Any:
    """What main.py installed on the app serving `request`."""
    return request.app.state.dependencies


def part(name: str) -> Callable[[Request], Awaitable[Any]]:
    """A FastAPI dependency answering attribute `name` of the installed dependencies. Async only
    so that FastAPI does not send a plain attribute read to a thread."""

    async def dependency(request: Request) -> Any:
        return getattr(installed(request), name)

    dependency.__name__ = f"dependency_{name}"
    return dependency
