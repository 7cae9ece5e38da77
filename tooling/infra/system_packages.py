"""Debian packages the services need at run time besides PostgreSQL: a Chinese font to print
certificates with (fonts-noto-cjk) and poppler's tools (poppler-utils: pdftotext and pdftoppm,
with which the tests read printed certificates back), and Debian's Chromium, the headless browser
the operator console's end-to-end test drives through Playwright (Playwright's own browser
downloads are not used), and npm, which installs axe-core (tests/axe/package-lock.json), the
accessibility checker the portal's browser test runs in each page. Installed with apt-get when
missing, as the PostgreSQL server is."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable

from rich.console import Console

from shared.fonts import FontMissing, cjk_font
from tooling.infra._common import InfrastructureError, apt_get_install, say


def _has_cjk_font() -> bool:
    cjk_font.cache_clear()  # asked again after an install
    try:
        cjk_font()
    except FontMissing:
        return False
    return True


def _has_poppler() -> bool:
    return all(shutil.which(tool) for tool in ("pdftotext", "pdftoppm"))


def chromium_path() -> str | None:
    """Debian's Chromium binary, if installed (the console test launches it through Playwright)."""
    return shutil.which("chromium") or next(
        (path for path in ("/usr/bin/chromium",) if os.path.exists(path)), None
    )


def _has_chromium() -> bool:
    return chromium_path() is not None


def _has_npm() -> bool:
    return shutil.which("npm") is not None


# Package name → how to tell it is there (whichever way it was installed).
REQUIRED: dict[str, Callable[[], bool]] = {
    "fonts-noto-cjk": _has_cjk_font,
    "poppler-utils": _has_poppler,
    "chromium": _has_chromium,
    "npm": _has_npm,
}


def missing_packages() -> list[str]:
    return [package for package, present in REQUIRED.items() if not present()]


def ensure_system_packages(console: Console | None = None) -> list[str]:
    """Install the missing ones (apt-get update, then install); the packages it installed."""
    missing = missing_packages()
    if not missing:
        return []
    hint = f"Install them, e.g. `sudo apt-get install -y {' '.join(missing)}`."
    say(console, f"Installing {', '.join(missing)} with apt-get (first run only)…")
    apt_get_install(missing, what=", ".join(missing), hint=hint)
    still = missing_packages()
    if still:
        raise InfrastructureError(f"{', '.join(still)} still missing after apt-get. {hint}")
    return missing
