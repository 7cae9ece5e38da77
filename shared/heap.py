"""The garbage collector of a long-running service process, tuned once it has started.

A service starts with a few hundred thousand objects that live as long as the process
(modules, the FastAPI app, SQLAlchemy's tables, pydantic's validators, the catalogs and key
rings). CPython's full collection walks all of them each time it runs: 50–300 ms every few tens
of seconds under load, during which the process answers nothing and consumes nothing. It was
the tail of the paced-load latency in `make bench` (a probe on gc.callbacks found full
collections of that length in intake, routing and approval during the run). Freezing what
startup made moves it out of the collector's sight for good; the young generation's larger
threshold makes collections rarer on the request and consume paths, which allocate many short
lived objects that reference counting frees anyway.
"""

from __future__ import annotations

import gc

# Allocations (minus deallocations) between young collections; CPython's default is 700.
YOUNG_THRESHOLD = 10_000


def settle_heap() -> None:
    """Call once, after startup and before serving: collect what startup left, then freeze the
    rest (gc.freeze) and raise the young generation's threshold."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
