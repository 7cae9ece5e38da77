"""Service-hall windows (窗口) as data: each window id belongs to exactly one locality.

A window clerk's token names its window; intake and delivery take it only if that window is
registered and belongs to the token's locality, so a clerk of 340200 cannot act as (or read the
print queue of) a window of 341200 by writing its id into a token.

The built-in registry gives every locality of the province windows `W<code>-01` to `W<code>-09`
(its service hall's comprehensive windows, 综合窗口). A province replaces it with its real
registry through WINDOWS_FILE: a CSV file with the header `window_id,locality,name`.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from shared.reference.localities import LOCALITIES

BUILT_IN_WINDOWS_PER_LOCALITY = 9


@dataclass(frozen=True)
class Window:
    window_id: str
    locality: str
    name: str


def _built_in() -> dict[str, Window]:
    windows = {}
    for code, locality in LOCALITIES.items():
        for number in range(1, BUILT_IN_WINDOWS_PER_LOCALITY + 1):
            window_id = f"W{code}-{number:02d}"
            windows[window_id] = Window(
                window_id, code, f"{locality.name}政务服务中心综合窗口{number}"
            )
    return windows


@lru_cache(maxsize=4)
def window_registry(windows_file: str | None = None) -> dict[str, Window]:
    """The registry: the built-in one, or the CSV file's windows."""
    if not windows_file:
        return _built_in()
    with Path(windows_file).open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    registry = {}
    for number, row in enumerate(rows, start=2):
        window_id, locality = (row.get("window_id") or "").strip(), (row.get("locality") or "")
        if not window_id or locality.strip() not in LOCALITIES:
            raise ValueError(
                f"{windows_file}, line {number}: needs a window_id and a known locality"
            )
        registry[window_id] = Window(window_id, locality.strip(), (row.get("name") or "").strip())
    return registry


def window_locality(window_id: str, windows_file: str | None = None) -> str | None:
    window = window_registry(windows_file).get(window_id)
    return window.locality if window else None
