"""The Chinese font certificates are printed with: Noto CJK (Debian's fonts-noto-cjk), found
through fontconfig or at the paths Debian installs it to.

Shared, not delivery's own, because two places ask for it: delivery prints with it
(services.delivery.pdf), and the local setup (`python -m tooling.infra --prepare`) installs the
package when it is missing, which the tooling may not learn by importing a service.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from fontTools.ttLib import TTCollection

# Where Debian's fonts-noto-cjk puts them, when fontconfig cannot say.
KNOWN_FONT_FILES = (
    Path("/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc"),
    Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"),
    Path("/usr/share/fonts/opentype/noto-cjk/NotoSerifCJK-Regular.ttc"),
    Path("/usr/share/fonts/opentype/noto-cjk/NotoSansCJK-Regular.ttc"),
)
FAMILIES = ("Noto Serif CJK SC", "Noto Sans CJK SC")


class FontMissing(RuntimeError):
    """No Chinese font to print with: install Debian's fonts-noto-cjk
    (`python -m tooling.infra --prepare` does)."""


@dataclass(frozen=True)
class FontFace:
    path: Path
    # The face's number in a TrueType/OpenType collection (.ttc); 0 for a single font.
    index: int


def _face_in(path: Path, family_suffix: str = "CJK SC") -> int | None:
    """The number of the Simplified Chinese face in a collection (or 0 for a single font)."""
    if path.suffix.lower() not in (".ttc", ".otc"):
        return 0
    collection = TTCollection(str(path), lazy=True)
    try:
        for number, font in enumerate(collection.fonts):
            family = font["name"].getDebugName(1) or ""
            if family.endswith(family_suffix):
                return number
    finally:
        collection.close()
    return None


def _fontconfig_face(family: str) -> FontFace | None:
    fc_match = shutil.which("fc-match")
    if fc_match is None:
        return None
    try:
        found = subprocess.run(
            [fc_match, "-f", "%{file}\n%{index}\n%{family}", family],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    lines = found.stdout.split("\n")
    # fc-match answers with its best fallback (DejaVu…) when the family is not installed.
    if found.returncode != 0 or len(lines) < 3 or family not in lines[2]:
        return None
    path = Path(lines[0])
    if not path.is_file() or not lines[1].isdigit():
        return None
    return FontFace(path, int(lines[1]))


@functools.cache
def cjk_font() -> FontFace:
    """The Chinese font to print with: Noto Serif (else Sans) CJK SC, as fontconfig knows it,
    else at the paths Debian's fonts-noto-cjk installs to. FontMissing if there is none."""
    for family in FAMILIES:
        face = _fontconfig_face(family)
        if face is not None:
            return face
    for path in KNOWN_FONT_FILES:
        if path.is_file():
            index = _face_in(path)
            if index is not None:
                return FontFace(path, index)
    raise FontMissing(
        "No Noto CJK font found (fc-match 'Noto Serif CJK SC', "
        f"{', '.join(str(p) for p in KNOWN_FONT_FILES)}): install Debian's fonts-noto-cjk, "
        "e.g. `python -m tooling.infra --prepare` or `apt-get install fonts-noto-cjk`."
    )
