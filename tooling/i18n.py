"""The message catalogs' upkeep (`make i18n`): find every text marked `_()` or `N_()` in the code
and add the ones a catalog lacks, untranslated, to the area's .po file for a translator.

Areas, so that each is translated (and merged) apart: a service's own texts go to
`<service>.po` (the console's templates too), shared/ to `common.po`, tooling/ (the CLI) to
`cli.po`, the portal's SMS texts to `sms.po` (OWN_AREAS). A text already
translated in any area is not asked for again. tests/unit/test_translations.py fails while a
marked text has no Chinese (shared.i18n).
"""

from __future__ import annotations

import sys
from collections import defaultdict
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

from shared.i18n import CHINESE, LOCALE_DIR, catalog

REPO_ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("shared", "services", "tooling")
KEYWORDS = {"_": None, "N_": None}
# The console's Jinja templates call the same `_` (jinja2.ext.i18n); Jinja2's own extractor
# reads them.
TEMPLATES = [("**/templates/**.html", "jinja2.ext:babel_extract")]


# Texts that leave Tongban in a medium of their own have an area of their own: the SMS the
# portal sends (short, one per fact, read on a phone) are translated apart from its pages.
OWN_AREAS = {"services/portal/notifications/texts.py": "sms"}


def area_of(path: str) -> str:
    """The catalog file (without .po) a text found in `path` (relative to the repo) goes to."""
    if path in OWN_AREAS:
        return OWN_AREAS[path]
    parts = Path(path).parts
    if parts[0] == "services" and len(parts) > 2:
        return parts[1]
    if parts[0] == "tooling":
        return "cli"
    return "common"


def marked_texts() -> dict[str, dict[str, list[str]]]:
    """{area: {text: ["path:line", ...]}} of every marked text in the code."""
    found: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for source in SOURCES:
        method_map = [("**/locale/**", "ignore"), ("**.py", "python"), *TEMPLATES]
        for filename, line, message, _comments, _context in extract_from_dir(
            REPO_ROOT / source, method_map=method_map, keywords=KEYWORDS
        ):
            if not isinstance(message, str) or not message:
                continue
            path = f"{source}/{filename}"
            found[area_of(path)][message].append(f"{path}:{line}")
    return {area: dict(texts) for area, texts in found.items()}


def untranslated(locale: str = CHINESE) -> dict[str, list[str]]:
    """{text: where} of every marked text `locale`'s catalog has no translation of."""
    known = catalog(locale)
    return {
        text: where
        for texts in marked_texts().values()
        for text, where in texts.items()
        if text not in known
    }


def update(locale: str = CHINESE) -> int:
    """Add each marked text that `locale` lacks to its area's .po file; the number added."""
    catalog.cache_clear()
    known = set(catalog(locale))
    added = 0
    folder = LOCALE_DIR / locale / "LC_MESSAGES"
    folder.mkdir(parents=True, exist_ok=True)
    for area, texts in sorted(marked_texts().items()):
        path = folder / f"{area}.po"
        if path.exists():
            with path.open("rb") as file:
                po = read_po(file, locale=locale)
        else:
            po = Catalog(locale=locale, project="tongban", charset="utf-8")
        present = {message.id for message in po}
        new = {text: where for text, where in texts.items() if text not in known | present}
        if not new:
            continue  # untouched: no churn for a merge to meet
        for text, where in sorted(new.items()):
            locations = [(spot.rsplit(":", 1)[0], int(spot.rsplit(":", 1)[1])) for spot in where]
            po.add(text, "", locations=locations)
            added += 1
        with path.open("wb") as file:
            write_po(file, po, width=100, omit_header=False, sort_output=False)
    catalog.cache_clear()
    return added


def main() -> None:
    added = update()
    missing = untranslated()
    print(f"{added} text(s) added to the catalogs; {len(missing)} without Chinese.")
    for text, where in sorted(missing.items()):
        print(f"  {where[0]}: {text}")
    sys.exit(0)


if __name__ == "__main__":
    main()
