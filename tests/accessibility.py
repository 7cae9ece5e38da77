"""axe-core (the npm package pinned in tests/axe/package.json, installed by `make infra-deps`)
run in the pages a Playwright test opens: what it finds, by page and impact, and the summary the
test prints.

The portal's Content-Security-Policy allows no script, so axe is not added as a <script> tag
(the page would refuse it): it is evaluated through the DevTools protocol, as Playwright's own
`evaluate` is, which the page's policy does not govern. The page itself still runs no script.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page

AXE_PACKAGE = Path(__file__).resolve().parent / "axe"
AXE_SCRIPT = AXE_PACKAGE / "node_modules" / "axe-core" / "axe.min.js"
# What stops a page: a serious or critical violation. Moderate and minor ones are reported.
BLOCKING = ("critical", "serious")
IMPACTS = ("critical", "serious", "moderate", "minor")


def ensure_axe() -> None:
    """axe-core as `make infra-deps` installs it; a run of pytest alone (a fresh checkout, a
    worktree) installs it the same way, from the lock file, before the browser starts."""
    if AXE_SCRIPT.is_file():
        return
    npm = shutil.which("npm")
    if npm is None:
        pytest.fail("npm is missing: `python -m tooling.infra --prepare` installs it")
    done = subprocess.run(
        [npm, "ci", "--prefix", str(AXE_PACKAGE), "--no-audit", "--no-fund"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if not AXE_SCRIPT.is_file():
        pytest.fail(f"`npm ci` in {AXE_PACKAGE} did not install axe-core: {done.stderr[-800:]}")


@functools.cache
def axe_source() -> str:
    ensure_axe()
    return AXE_SCRIPT.read_text(encoding="utf-8")


@dataclass(frozen=True)
class Violation:
    page: str
    rule: str
    impact: str
    help: str
    targets: tuple[str, ...]

    def __str__(self) -> str:
        where = ", ".join(self.targets[:3]) + (" …" if len(self.targets) > 3 else "")
        return f"{self.page}: {self.impact} {self.rule} ({self.help}) at {where}"


@dataclass
class AxeReport:
    """Every page checked in a journey, and every violation found there."""

    pages: list[str] = field(default_factory=list)
    violations: list[Violation] = field(default_factory=list)
    # How many of axe's rules applied to each page and held: no page was checked by nothing.
    rules_passed: list[int] = field(default_factory=list)
    version: str = ""

    async def check(self, page: Page, name: str) -> list[Violation]:
        """Run axe on the page as it is now; the violations found there (all impacts)."""
        if not await page.evaluate("() => typeof window.axe === 'object'"):
            await page.evaluate(axe_source())
        result: dict[str, Any] = await page.evaluate(
            "() => axe.run(document, {resultTypes: ['violations']})"
        )
        self.version = result["testEngine"]["version"]
        found = [
            Violation(
                page=name,
                rule=violation["id"],
                impact=violation["impact"] or "minor",
                help=violation["help"],
                targets=tuple(str(node["target"]) for node in violation["nodes"]),
            )
            for violation in result["violations"]
        ]
        self.pages.append(name)
        self.violations.extend(found)
        self.rules_passed.append(len(result["passes"]))
        return found

    def blocking(self) -> list[Violation]:
        return [v for v in self.violations if v.impact in BLOCKING]

    def summary(self) -> str:
        """One paragraph to quote: the pages checked and the violations by impact."""
        counts = Counter(v.impact for v in self.violations)
        by_impact = ", ".join(f"{impact} {counts.get(impact, 0)}" for impact in IMPACTS)
        lines = [
            f"axe-core {self.version}: {len(self.pages)} pages checked "
            f"({', '.join(self.pages)}); violations by impact: {by_impact}; rules that "
            f"applied and held per page: {min(self.rules_passed, default=0)} to "
            f"{max(self.rules_passed, default=0)}"
        ]
        lines += [f"  {violation}" for violation in self.violations]
        return "\n".join(lines)
