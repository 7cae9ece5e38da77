"""The options of `tongban run` and `tongban demo` (`--provinces`, `--scale`).

A module of their own, importing nothing of the launcher: every `tongban` command imports
them, the production entrypoint (`tongban serve`) among them.
"""

from __future__ import annotations

from typing import Annotated

import typer

# `tongban run --provinces 2`, `tongban demo --provinces 1`: a second Tongban (Jiangsu) beside.
ProvincesOption = Annotated[int, typer.Option(min=1, max=2)]

# `tongban run --scale N` (tooling.scale).
MAX_SCALE = 4  # the partitions of the busy topics: a fifth consumer of a group would sit idle
ScaleOption = Annotated[
    int,
    typer.Option(
        min=1,
        max=MAX_SCALE,
        help="Processes of each of intake, routing, approval and delivery (2: the second on "
        "8201-8204, in the same consumer groups)",
    ),
]
