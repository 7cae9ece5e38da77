"""Text fields refuse Unicode's control characters (category Cc), whatever finds them."""

from __future__ import annotations

import sys
import unicodedata

import pytest
from pydantic import TypeAdapter, ValidationError

from shared.bounds import Line, Reason

# Lone surrogates (category Cs) are not text: pydantic refuses them before any validator.
CHARACTERS = [c for c in map(chr, range(sys.maxunicode + 1)) if unicodedata.category(c) != "Cs"]
CONTROL = [c for c in CHARACTERS if unicodedata.category(c) == "Cc"]
LINE = TypeAdapter(Line)
REASON = TypeAdapter(Reason)


def test_every_control_character_is_refused_in_a_line_and_only_those() -> None:
    refused = [c for c in CHARACTERS if _refuses(LINE, f"a{c}b")]
    assert refused == CONTROL


def test_a_reason_keeps_line_breaks_and_tabs_and_refuses_every_other_control_character() -> None:
    assert REASON.validate_python("材料齐全\n\t符合政策") == "材料齐全\n\t符合政策"
    for char in CONTROL:
        assert _refuses(REASON, f"原因{char}") == (char not in "\n\t"), hex(ord(char))


@pytest.mark.parametrize("text", ["合肥市 蜀山区", "\u2028", "\U0001f600", "\u00a0", ""])
def test_text_without_control_characters_passes(text: str) -> None:
    assert LINE.validate_python(text) == text


def _refuses(adapter: TypeAdapter[str], text: str) -> bool:
    try:
        adapter.validate_python(text)
    except ValidationError:
        return True
    return False
